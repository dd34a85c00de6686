// kefu web chat loader: runs on the host website, adds a launcher button and the chat iframe.
// Embed: <script src="https://kefu.example.com/widget.js" data-kefu-widget="KEY" async></script>
// Signed-in visitors: set window.kefuSettings = {userId, userHash, name, email} before it.
(function () {
  "use strict";

  var script =
    document.currentScript || document.querySelector("script[data-kefu-widget]");
  if (!script || window.__kefuWidgetLoaded) {
    return;
  }
  window.__kefuWidgetLoaded = true;
  var key = script.getAttribute("data-kefu-widget") || "";
  var origin = new URL(script.src, window.location.href).origin;
  var PHONE_WIDTH = 480;
  var open = false;
  var ready = false;
  var look = { color: "#1f6feb", position: "right", title: "" };

  function css(node, styles) {
    // CSSOM properties, not style attributes: allowed by strict style-src policies.
    Object.keys(styles).forEach(function (name) {
      node.style.setProperty(name, styles[name]);
    });
  }

  var launcher = document.createElement("button");
  launcher.type = "button";
  launcher.setAttribute("aria-haspopup", "dialog");
  launcher.setAttribute("aria-expanded", "false");
  css(launcher, {
    position: "fixed",
    bottom: "20px",
    width: "56px",
    height: "56px",
    "border-radius": "50%",
    border: "0",
    cursor: "pointer",
    color: "#fff",
    "font-size": "26px",
    "line-height": "56px",
    "box-shadow": "0 4px 14px rgba(0,0,0,.25)",
    "z-index": "2147483646",
    display: "none",
    padding: "0"
  });
  launcher.appendChild(chatIcon());

  function chatIcon() {
    // Drawn, not an emoji: not every system has an emoji font.
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "28");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    css(svg, { "vertical-align": "middle" });
    return svg;
  }

  var badge = document.createElement("span");
  css(badge, {
    position: "absolute",
    top: "-4px",
    right: "-4px",
    "min-width": "20px",
    height: "20px",
    "border-radius": "10px",
    background: "#d1242f",
    color: "#fff",
    "font": "bold 12px/20px sans-serif",
    "text-align": "center",
    display: "none"
  });
  launcher.appendChild(badge);

  var frame = document.createElement("iframe");
  frame.src = origin + "/widget/" + encodeURIComponent(key);
  frame.title = "Chat";
  frame.setAttribute("allow", "clipboard-write");
  css(frame, {
    position: "fixed",
    border: "0",
    "z-index": "2147483647",
    background: "#fff",
    "box-shadow": "0 8px 30px rgba(0,0,0,.25)",
    display: "none"
  });

  function layout() {
    var side = look.position === "left" ? "left" : "right";
    var other = side === "left" ? "right" : "left";
    launcher.style.setProperty(side, "20px");
    launcher.style.removeProperty(other);
    launcher.style.setProperty("background", look.color);
    if (window.innerWidth < PHONE_WIDTH) {
      css(frame, { top: "0", left: "0", right: "0", bottom: "0", width: "100%", height: "100%", "border-radius": "0" });
    } else {
      css(frame, {
        top: "auto",
        bottom: "88px",
        width: "370px",
        height: "min(600px, calc(100vh - 110px))",
        "border-radius": "12px"
      });
      frame.style.setProperty(side, "20px");
      frame.style.setProperty(other, "auto");
    }
  }

  function tell(message) {
    if (frame.contentWindow) {
      frame.contentWindow.postMessage(message, origin);
    }
  }

  function setOpen(value) {
    open = value;
    frame.style.setProperty("display", open ? "block" : "none");
    launcher.setAttribute("aria-expanded", String(open));
    // On a phone the panel covers the page, the launcher with it.
    var hideLauncher = open && window.innerWidth < PHONE_WIDTH;
    launcher.style.setProperty("display", ready && !hideLauncher ? "block" : "none");
    tell({ type: "kefu:visible", visible: open });
  }

  launcher.addEventListener("click", function () {
    setOpen(!open);
  });

  window.addEventListener("resize", layout);

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) {
      return;
    }
    var data = event.data || {};
    if (data.type === "kefu:hello") {
      tell({ type: "kefu:init", settings: window.kefuSettings || null, stored: kept() });
    } else if (data.type === "kefu:store") {
      keep(data.name, data.value);
    } else if (data.type === "kefu:ready") {
      if (data.look) {
        look.color = /^#[0-9a-fA-F]{6}$/.test(data.look.color) ? data.look.color : look.color;
        look.position = data.look.position === "left" ? "left" : "right";
        launcher.setAttribute("aria-label", String(data.look.title || "Chat"));
        frame.title = String(data.look.title || "Chat");
      }
      ready = true;
      layout();
      setOpen(open);
    } else if (data.type === "kefu:close") {
      setOpen(false);
    } else if (data.type === "kefu:unread") {
      var count = Number(data.count) || 0;
      badge.textContent = count > 99 ? "99+" : String(count);
      badge.style.setProperty("display", count > 0 && !open ? "block" : "none");
    }
  });

  // -- storage for a frame the browser gives none (third-party storage blocked) ----------------------
  // The frame asks for this only when its own storage fails; values are its visitor token, read
  // position, unsent messages and email, kept under "kefu:KEY:" on this site.
  var KEEP = "kefu:" + key + ":";
  var KEEP_NAME = /^[a-z_]{1,32}$/;
  var KEEP_MAX = 65536; // characters of JSON per value

  function keep(name, value) {
    if (typeof name !== "string" || !KEEP_NAME.test(name)) {
      return;
    }
    try {
      if (value === null || value === undefined) {
        window.localStorage.removeItem(KEEP + name);
        return;
      }
      var text = JSON.stringify(value);
      if (text.length <= KEEP_MAX) {
        window.localStorage.setItem(KEEP + name, text);
      }
    } catch (e) {
      // The host's storage is full or blocked too: the chat still works for this visit.
    }
  }

  function kept() {
    var values = {};
    try {
      for (var i = 0; i < window.localStorage.length; i++) {
        var full = window.localStorage.key(i);
        if (full && full.indexOf(KEEP) === 0 && KEEP_NAME.test(full.slice(KEEP.length))) {
          values[full.slice(KEEP.length)] = JSON.parse(window.localStorage.getItem(full));
        }
      }
    } catch (e) {
      return {};
    }
    return values;
  }

  function mount() {
    document.body.appendChild(frame);
    document.body.appendChild(launcher);
    layout();
  }

  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }

  window.kefu = {
    open: function () {
      setOpen(true);
    },
    close: function () {
      setOpen(false);
    }
  };
})();
