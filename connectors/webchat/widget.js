/* Omnihub web chat widget: the loader every page view pays for.
 * Embed: <script src="https://HUB/widget.js" data-widget-token="TOKEN" async></script>
 * It shows only the bubble, in a Shadow DOM. The chat window's code (widget-chat.js, from the same hub) is fetched
 * on the first open, or at once for a returning visitor, whose replies and unread count it shows.
 * Script API: window.Omnihub.open(), .minimise(), .close(), .send(text); calls made before the window has loaded
 * wait for it.
 * Language: zh-CN or English by the page's <html lang> (else the browser's), overridden by data-lang on the tag. */
(function () {
  "use strict";
  if (window.Omnihub) return;
  var script = document.currentScript || document.querySelector("script[data-widget-token]");
  var widgetToken = script && script.getAttribute("data-widget-token");
  if (!widgetToken) return;
  var chinese = /^zh/i.test(script.getAttribute("data-lang") || document.documentElement.lang ||
                            navigator.language || "");
  var CSS = ":host{all:initial;position:fixed;right:20px;bottom:20px;z-index:2147483000;--c:#2563eb}" +
    "*{box-sizing:border-box}[hidden]{display:none!important}" +
    ".bubble{width:58px;height:58px;border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;box-shadow:0 6px 20px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;position:relative}" +
    ".bubble svg{width:28px;height:28px;fill:currentColor}" +
    ".bubble:focus-visible{outline:2px solid var(--c);outline-offset:2px}" +
    "@media (max-width:480px){:host{right:12px;bottom:12px}}";

  var host = document.createElement("omnihub-chat");
  var shadow = host.attachShadow({ mode: "open" });
  var root = document.createElement("div");
  var bubble = document.createElement("button");
  var svg = "http://www.w3.org/2000/svg";
  var icon = document.createElementNS(svg, "svg");
  var iconPath = document.createElementNS(svg, "path");
  icon.setAttribute("viewBox", "0 0 24 24");
  iconPath.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 2-2z");
  icon.appendChild(iconPath);
  bubble.className = "bubble";
  bubble.type = "button";
  bubble.setAttribute("aria-label", chinese ? "打开聊天" : "Open chat");
  bubble.setAttribute("aria-expanded", "false");
  bubble.appendChild(icon);
  root.className = "root";
  root.appendChild(bubble);
  shadow.appendChild(root);

  /* Constructed sheets also work under a strict style-src policy; older browsers get a <style>. */
  function addStyles(css) {
    if (shadow.adoptedStyleSheets && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      shadow.adoptedStyleSheets = shadow.adoptedStyleSheets.concat([sheet]);
    } else {
      var style = document.createElement("style");
      style.textContent = css;
      shadow.appendChild(style);
    }
  }
  addStyles(CSS);
  (document.body || document.documentElement).appendChild(host);

  var calls = [];
  var loading = false;
  function load() {
    if (loading) return;
    loading = true;
    var chat = document.createElement("script");
    chat.src = script.src.replace(/\/widget\.js(?=[?#]|$)/, "/widget-chat.js");
    chat.async = true;
    (document.head || document.documentElement).appendChild(chat);
  }
  function later(name) {
    return function () {
      calls.push([name, arguments]);
      load();
    };
  }
  bubble.onclick = later("open");
  window.Omnihub = { open: later("open"), minimise: later("minimise"), close: later("close"), send: later("send") };
  window.OmnihubLoader = { script: script, host: host, shadow: shadow, bubble: bubble, addStyles: addStyles,
                           calls: calls };
  try {
    if (window.localStorage.getItem("omnihub.visitor." + widgetToken)) load();
  } catch (e) { /* storage blocked: a returning visitor's chat loads when they open it */ }
})();
