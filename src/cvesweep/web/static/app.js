// cvesweep web UI: live search progress, and sorting of the small tables of one page
// (an asset's attributes and findings, the CVE list). The large tables (a result's hosts,
// a CVE's assets, the asset list, the runs) are paged, sorted and filtered on the server:
// their headers are links.
// Data is only ever written with textContent (never innerHTML); no inline script exists.
"use strict";

(function () {
  const POLL_MS = 500;

  function followJob(section) {
    const url = section.dataset.statusUrl;
    const set = (id, value) => {
      const element = document.getElementById(id);
      if (element) element.textContent = String(value);
    };
    async function poll() {
      let status;
      try {
        const reply = await fetch(url, { credentials: "same-origin", cache: "no-store" });
        if (!reply.ok) throw new Error("HTTP " + reply.status);
        status = await reply.json();
      } catch (error) {
        set("job-state", "Lost contact with the server; retrying…");
        window.setTimeout(poll, POLL_MS * 4);
        return;
      }
      set("progress-pages", status.progress.pages);
      set("progress-hosts", status.progress.hosts);
      set("progress-detections", status.progress.detections);
      if (status.state !== "running") {
        window.location.reload();
        return;
      }
      set("job-state", status.cancel_requested ? "Cancelling…" : "Running…");
      window.setTimeout(poll, POLL_MS);
    }
    window.setTimeout(poll, POLL_MS);
  }

  function cellValue(row, index) {
    const cell = row.cells[index];
    if (!cell) return "";
    return cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
  }

  function ipKey(text) {
    const parts = text.split(".");
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p))) return null;
    return parts.reduce((key, part) => key * 256 + Number(part), 0);
  }

  function compare(a, b, kind) {
    if (kind === "number") return (parseFloat(a) || 0) - (parseFloat(b) || 0);
    if (kind === "ip") {
      const x = ipKey(a), y = ipKey(b);
      if (x !== null && y !== null) return x - y;
    }
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  function makeSortable(table) {
    const headers = Array.from(table.tHead ? table.tHead.rows[0].cells : []);
    headers.forEach((th, index) => {
      th.tabIndex = 0;
      th.title = "Sort by " + th.textContent.trim();
      const sort = () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach((other) => other.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort((r1, r2) => {
          const order = compare(cellValue(r1, index), cellValue(r2, index), th.dataset.sort);
          return ascending ? order : -order;
        });
        rows.forEach((row) => body.appendChild(row));
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const job = document.getElementById("job");
    if (job && job.dataset.state === "running") followJob(job);
    document.querySelectorAll("table.sortable").forEach(makeSortable);
  });
})();
