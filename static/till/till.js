// The till is used with the keyboard alone: the search box always has the
// focus unless a form just shown asks for it (autofocus); Esc starts over.
(function () {
  const search = () => document.getElementById("till-search");
  const panel = () => document.getElementById("till-panel");

  function focusNext(root) {
    const wanted = root && root.querySelector("[autofocus]");
    const target = wanted || search();
    if (target) { target.focus(); if (target.select) { target.select(); } }
  }

  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target === panel()) {
      if (!panel().querySelector("[autofocus]")) { search().value = ""; }
      focusNext(panel());
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && panel()) {
      panel().innerHTML = "";
      search().value = "";
      focusNext(null);
    }
  });
})();
