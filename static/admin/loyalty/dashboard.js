// Draws the dashboard's charts from the JSON the page carries (Chart.js, vendored).
(function () {
  function draw() {
    const source = document.getElementById("dashboard-data");
    if (!source || !window.Chart) { return; }
    const data = JSON.parse(source.textContent);
    const labels = data.labels;
    const chart = (id, config) => {
      const canvas = document.getElementById(id);
      if (canvas) { new window.Chart(canvas, config); }
    };
    chart("chart-sales", {
      data: {
        labels: data.days,
        datasets: [
          { type: "bar", label: labels.purchases, data: data.purchases, yAxisID: "count" },
          { type: "line", label: labels.revenue, data: data.revenue, yAxisID: "money", tension: 0.3 },
        ],
      },
      options: { scales: { count: { position: "left" }, money: { position: "right", grid: { drawOnChartArea: false } } } },
    });
    chart("chart-points", {
      type: "line",
      data: {
        labels: data.days,
        datasets: [
          { label: labels.issued, data: data.issued, tension: 0.3 },
          { label: labels.redeemed, data: data.redeemed, tension: 0.3 },
          { label: labels.expired, data: data.expired, tension: 0.3 },
        ],
      },
    });
    chart("chart-members", {
      type: "bar",
      data: { labels: data.days, datasets: [{ label: labels.new_members, data: data.new_members }] },
    });
    chart("chart-tiers", {
      type: "bar",
      data: { labels: data.tiers.labels, datasets: [{ label: labels.members, data: data.tiers.values }] },
      options: { indexAxis: "y" },
    });
    chart("chart-rewards", {
      type: "bar",
      data: { labels: data.rewards.labels, datasets: [{ label: labels.vouchers, data: data.rewards.values }] },
      options: { indexAxis: "y" },
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
