// Berth: HTML fragments loaded into the page ([data-src]), and reloaded on demand. A
// failed load says so in place rather than leaving a spinner.

export async function load(el, url) {
  el.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(url || el.dataset.src, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
    });
    if (!response.ok) throw new Error(response.status + " " + response.statusText);
    el.innerHTML = await response.text();
  } catch (err) {
    el.innerHTML = '<p class="msg error" role="alert">Could not load this part of the page (' +
      String(err.message).replace(/[<>&]/g, "") + "). It will retry on refresh.</p>";
  } finally {
    el.removeAttribute("aria-busy");
  }
}
