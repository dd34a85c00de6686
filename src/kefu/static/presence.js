// Presence: the supervisor's live table, and the heartbeat + idle detection of agent pages.
// Loaded as a file (the CSP forbids inline scripts). Two opt-in hooks:
//   <div data-presence-live="/supervisor/presence" data-presence-target="#presence-table">
//     refreshes the table (htmx) whenever the "presence" topic has news;
//   <body data-presence-heartbeat>  (every signed-in page but the inbox, which does it itself)
//     tells the server every 30 s that this tab is open, so an agent who opens another page
//     (quick replies, settings) stays available; sets "away" after 10 idle minutes when online
//     (automatically: the server never lets that replace a state the agent chose).
(function () {
  "use strict";

  var HEARTBEAT_MS = 30000;
  var IDLE_MS = 10 * 60 * 1000;

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function send(method, url, body) {
    var options = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } };
    if (body) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return window.fetch(url, options).catch(function () { return null; });
  }

  function follow(topic, onNews) {
    var delay = 1000;
    var lastId = null;
    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + window.location.host + "/api/v1/realtime");
      socket.onopen = function () {
        delay = 1000;
        var frame = { type: "subscribe", topic: topic };
        if (lastId !== null) {
          frame.last_id = lastId;
        }
        socket.send(JSON.stringify(frame));
      };
      socket.onmessage = function (message) {
        var frame;
        try {
          frame = JSON.parse(message.data);
        } catch (err) {
          return;
        }
        if (frame.topic !== topic) {
          return;
        }
        if (frame.type === "subscribed" || frame.type === "event" || frame.type === "reload") {
          var known = lastId;
          if (typeof frame.last_id === "number") { lastId = frame.last_id; }
          if (typeof frame.id === "number") { lastId = frame.id; }
          if (frame.type !== "subscribed" || (known !== null && known !== lastId)) {
            onNews();
          }
        }
      };
      socket.onclose = function (event) {
        if (event.code === 4401) {
          return; // logged out: do not hammer the server
        }
        window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    connect();
  }

  function liveTable(holder) {
    var url = holder.getAttribute("data-presence-live");
    var target = holder.getAttribute("data-presence-target");
    var pending = null;
    follow("presence", function () {
      if (pending !== null || !window.htmx) {
        return;
      }
      pending = window.setTimeout(function () {
        pending = null;
        window.htmx.ajax("GET", url, { target: target, swap: "outerHTML" });
      }, 300);
    });
  }

  function heartbeat() {
    // Only for people who take chats (they have a presence); the inbox pages do this themselves.
    var lastActivity = Date.now();
    var state = null;
    var wentAway = false;
    function answer(response) {
      return response && response.ok ? response.json().catch(function () { return null; }) : null;
    }
    function put(next) {
      send("PUT", "/api/v1/presence/me", { state: next, automatic: true })
        .then(answer)
        .then(function (found) {
          if (found && typeof found.state === "string") {
            state = found.state;
          }
        });
    }
    function beat() {
      send("POST", "/api/v1/presence/heartbeat");
      if (state === "online" && Date.now() - lastActivity > IDLE_MS) {
        wentAway = true;
        put("away");
      }
    }
    function active() {
      lastActivity = Date.now();
      if (wentAway) {
        wentAway = false;
        put("online");
      }
    }
    send("GET", "/api/v1/presence/me")
      .then(answer)
      .then(function (found) {
        if (!found || typeof found.state !== "string") {
          return;
        }
        state = found.state;
        ["keydown", "mousedown", "touchstart", "scroll"].forEach(function (name) {
          document.addEventListener(name, active, { passive: true });
        });
        beat();
        window.setInterval(beat, HEARTBEAT_MS);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.querySelector("[data-presence-live]");
    if (holder) {
      liveTable(holder);
    }
    if (document.querySelector("[data-presence-heartbeat]")) {
      heartbeat();
    }
  });
})();
