// Berth: HTML fragments loaded into the page ([data-src]), and reloaded on demand. A
// failed load says so in place rather than leaving a spinner.

// A form someone is filling in is never replaced under their hands: a reload waits until
// focus leaves the fragment and nothing typed in it is pending.
export function busy(el) {
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

// Reload one part of the page from the page's own URL: the element with the same id in a
// fresh copy replaces this one's content (not while someone is typing in it: then once
// they leave it, as load() does). Fragments inside it ([data-src]) load again.
export async function reloadRegion(el) {
  if (busy(el)) {
    if (!el.berthPendingReload) {
      el.berthPendingReload = true;
      el.addEventListener("focusout", function later() {
        setTimeout(() => {
          if (busy(el)) return;
          el.removeEventListener("focusout", later);
          el.berthPendingReload = false;
          reloadRegion(el);
        }, 0);
      });
    }
    return;
  }
  try {
    const response = await fetch(location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
    if (!response.ok) return; // keep what is shown; the next change tries again
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById(el.id);
    if (!fresh || busy(el)) return;
    el.innerHTML = fresh.innerHTML;
    el.querySelectorAll("[data-src]").forEach((inner) => load(inner));
    el.dispatchEvent(new CustomEvent("berth:region-reloaded", { bubbles: true }));
  } catch {
    // offline for a moment: the next change, or a refresh, shows the news
  }
}
