// Berth: HTML fragments loaded into the page ([data-src]), and reloaded on demand. A
// failed load says so in place rather than leaving a spinner.

// A form someone is filling in is never replaced under their hands: a reload waits until
// focus leaves the fragment and nothing typed in it is pending.
function busy(el) {
  if (el.contains(document.activeElement) && document.activeElement.matches("input, textarea, select")) return true;
  return Array.from(el.querySelectorAll("input:not([type=hidden]), textarea")).some((input) => input.value !== input.defaultValue);
}

export async function load(el, url) {
  if (busy(el)) {
    if (!el.berthPendingReload) {
      el.berthPendingReload = true;
      const retry = () => {
        if (busy(el)) return;
        el.removeEventListener("focusout", later);
        el.berthPendingReload = false;
        load(el, url);
      };
      const later = () => setTimeout(retry, 0);
      el.addEventListener("focusout", later);
    }
    return;
  }
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
