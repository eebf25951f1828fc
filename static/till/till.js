// The till is used with the keyboard alone: the search box always has the
// focus unless a form just shown asks for it (autofocus); Esc starts over.
(function () {
  const search = () => document.getElementById("till-search");
  const panel = () => document.getElementById("till-panel");

  // After htmx has settled the new content (it may focus [autofocus] itself),
  // move the focus only if it is not already where it belongs: a cashier who
  // started typing must never have the caret pulled away mid-word.
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.detail.target !== panel()) { return; }
    const wanted = panel().querySelector("[autofocus]");
    // Clear the last search for the next customer, unless the cashier is already
    // typing the next one (an Esc can land between htmx's swap and this event).
    if (!wanted && document.activeElement !== search()) { search().value = ""; }
    const target = wanted || search();
    if (document.activeElement !== target && !panel().contains(document.activeElement)) {
      target.focus();
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && panel()) {
      panel().innerHTML = "";
      search().value = "";
      search().focus();
    }
  });
})();
