// Berth: [data-inspect-url] on the container page: the inspect document from the API
// (secrets masked by the server), loaded when its tab is first opened, not on page load.

export function inspect(root) {
  const result = root.querySelector("[data-inspect-result]");
  let loaded = false;
  async function load() {
    loaded = true;
    result.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(root.dataset.inspectUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const data = await response.json().catch(() => null);
      if (!response.ok) throw new Error((data && (data.detail || data.error)) || "HTTP " + response.status);
      const pre = document.createElement("pre");
      pre.className = "config inspect";
      pre.textContent = JSON.stringify(data, null, 2);
      result.replaceChildren(pre);
    } catch (err) {
      const p = document.createElement("p");
      p.className = "msg error";
      p.setAttribute("role", "alert");
      p.textContent = "Could not load the inspect document: " + err.message;
      result.replaceChildren(p);
    } finally {
      result.removeAttribute("aria-busy");
    }
  }
  root.querySelector("[data-inspect-reload]").addEventListener("click", load);
  document.addEventListener("berth:tab", (event) => { if (event.detail === "inspect" && !loaded) load(); });
}
