// "Live Code" loads thebe from a CDN and a kernel from Binder. Without the internet the theme
// would show "Loading thebe from CDN..." for ever: say what happened and what to do instead.
(() => {
  const message = "Live Code could not start: it needs the internet (thebe from unpkg.com and " +
    "a kernel from mybinder.org). Download the notebook, or open it in Binder or Colab, instead.";
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      for (const node of mutation.addedNodes) {
        if (node.tagName === "SCRIPT" && typeof THEBE_JS_URL !== "undefined"
            && node.src === THEBE_JS_URL) {
          node.addEventListener("error", () => {
            document.querySelectorAll(".thebe-launch-button").forEach((button) => {
              button.innerText = message;
              button.classList.add("thebe-unavailable");
            });
          });
        }
      }
    }
  }).observe(document.head, { childList: true });
})();
