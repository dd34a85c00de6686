// The agent workspace: live updates over the realtime socket, the composer (quick replies,
// macros, mentions, attachments), collision warnings, presence, alerts and keyboard shortcuts.
// No framework, no inline script (CSP). HTML always comes from the server as rendered
// partials; data from events is only ever used as text.
(function () {
  "use strict";

  const root = document.getElementById("workspace");
  if (!root) {
    return;
  }
  const page = root.dataset.page;
  const me = Number(root.dataset.userId);
  const conversationId = root.dataset.conversationId ? Number(root.dataset.conversationId) : null;
  const customerName = root.dataset.customerName || "";
  const i18nNode = document.getElementById("ws-i18n");
  const t = i18nNode ? i18nNode.dataset : {};

  // -- HTTP helpers ---------------------------------------------------------------------------
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // Resolves to the Response, or null when the network failed: callers never throw.
  function request(method, url, body) {
    const options = {
      method: method,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json" },
    };
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).catch(function () {
      return null;
    });
  }

  function json(response) {
    if (!response || !response.ok) {
      return Promise.resolve(null);
    }
    return response.json().catch(function () {
      return null;
    });
  }

  function problemDetail(response, fallback) {
    if (!response) {
      return Promise.resolve(fallback);
    }
    return response
      .json()
      .then(function (body) {
        return (body && body.detail) || fallback;
      })
      .catch(function () {
        return fallback;
      });
  }

  function fire(name) {
    document.body.dispatchEvent(new CustomEvent(name));
  }

  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function isTyping(target) {
    if (!target || !target.tagName) {
      return false;
    }
    const tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  // -- sound and desktop alerts ------------------------------------------------------------------
  let audio = null;
  function unlockAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) {
      try {
        audio = new Context();
      } catch (error) {
        audio = null;
      }
    }
  }

  function beep() {
    if (!audio) {
      return;
    }
    try {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = 880;
      gain.gain.value = 0.08;
      oscillator.connect(gain);
      gain.connect(audio.destination);
      oscillator.start();
      oscillator.stop(audio.currentTime + 0.15);
    } catch (error) {
      // A suspended or closed audio context: no sound, nothing else to do.
    }
  }

  function alertUser(title, body, url) {
    if (!document.hidden) {
      return;
    }
    beep();
    if (!("Notification" in window) || Notification.permission !== "granted") {
      return;
    }
    try {
      const note = new Notification(title, { body: (body || "").slice(0, 140), tag: "kefu" });
      note.onclick = function () {
        window.focus();
        if (url) {
          window.location.href = url;
        }
        note.close();
      };
    } catch (error) {
      // Some browsers only allow notifications from a service worker.
    }
  }

  const alertsButton = document.getElementById("ws-alerts");
  function showAlertState() {
    if (!alertsButton) {
      return;
    }
    if (!("Notification" in window)) {
      alertsButton.hidden = true;
    } else if (Notification.permission === "granted") {
      alertsButton.textContent = t.alertsOn || alertsButton.textContent;
      alertsButton.disabled = true;
    }
  }
  if (alertsButton) {
    showAlertState();
    alertsButton.addEventListener("click", function () {
      unlockAudio();
      beep();
      if ("Notification" in window && Notification.permission === "default") {
        Promise.resolve(Notification.requestPermission()).then(showAlertState);
      }
    });
  }
  // Browsers start audio only after a gesture: any click or key on the page will do.
  document.addEventListener("click", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });

  // -- notifications badge -------------------------------------------------------------------------
  const notifCount = document.getElementById("ws-notif-count");
  let unreadNotifications = 0;
  function showNotifCount() {
    if (notifCount) {
      notifCount.textContent = String(unreadNotifications);
      notifCount.hidden = unreadNotifications === 0;
    }
  }
  request("GET", "/api/v1/notifications?unread=true&limit=100")
    .then(json)
    .then(function (body) {
      if (body && Array.isArray(body.items)) {
        unreadNotifications = body.items.length;
        showNotifCount();
      }
    });

  // -- the realtime socket -------------------------------------------------------------------------
  const live = document.getElementById("ws-live");
  const topics = ["inbox"];
  if (conversationId) {
    topics.push("conversation:" + conversationId);
  }
  const lastIds = {};
  let socket = null;
  let attempts = 0;

  function setLive(on) {
    if (live) {
      live.dataset.state = on ? "live" : "offline";
      live.textContent = on ? t.live || "" : t.offline || "";
    }
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
    }
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    try {
      socket = new WebSocket(scheme + "//" + window.location.host + "/api/v1/realtime");
    } catch (error) {
      scheduleReconnect();
      return;
    }
    socket.addEventListener("message", function (event) {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      onFrame(message);
    });
    socket.addEventListener("close", function (event) {
      setLive(false);
      socket = null;
      if (event.code !== 4401) {
        scheduleReconnect();
      }
    });
  }

  function scheduleReconnect() {
    attempts += 1;
    const delay = Math.min(30000, 500 * Math.pow(2, Math.min(attempts, 6))) * (0.75 + Math.random() / 2);
    setTimeout(connect, delay);
  }

  function onFrame(message) {
    switch (message.type) {
      case "hello":
        attempts = 0;
        setLive(true);
        topics.forEach(function (topic) {
          const frame = { type: "subscribe", topic: topic };
          if (typeof lastIds[topic] === "number") {
            frame.last_id = lastIds[topic];
          }
          send(frame);
        });
        break;
      case "subscribed":
        if (typeof lastIds[message.topic] !== "number") {
          lastIds[message.topic] = message.last_id;
        }
        if (message.topic === "conversation:" + conversationId) {
          sendViewing();
        }
        break;
      case "event":
        lastIds[message.topic] = message.id;
        onEvent(message.topic, message.event, message.data || {});
        break;
      case "reload":
        lastIds[message.topic] = message.last_id;
        onReload(message.topic);
        break;
      case "signal":
        onSignal(message.event, message.data || {});
        break;
      default:
        break;
    }
  }

  const refreshInbox = debounce(function () {
    fire("kefu:inbox");
  }, 300);

  function onEvent(topic, name, data) {
    if (topic === "inbox") {
      refreshInbox();
      if (name === "conversation.opened") {
        alertUser(t.newConversation || "", data.number || "", "/inbox/conversations/" + data.conversation_id);
      } else if (
        name === "message.posted" &&
        data.author_kind === "customer" &&
        data.conversation_id !== conversationId
      ) {
        alertUser(t.newMessage || "", data.body || "", "/inbox/conversations/" + data.conversation_id);
      }
    } else if (conversationId && topic === "conversation:" + conversationId) {
      onConversationEvent(name, data);
    } else if (topic === "user:" + me) {
      if (name === "notification.created") {
        unreadNotifications += 1;
        showNotifCount();
        const title = data.kind === "mention" ? t.mention : t.notification;
        alertUser(title || "", data.text || "", "/inbox/conversations/" + data.conversation_id);
      } else if (name === "conversation.assigned") {
        refreshInbox();
      }
    }
  }

  function onReload(topic) {
    if (topic === "inbox") {
      refreshInbox();
    } else if (conversationId && topic === "conversation:" + conversationId) {
      reloadHistory();
      refreshHeader();
    }
  }

  // -- inbox list: selection and keyboard --------------------------------------------------------------
  let selectedId = null;
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#ws-rows .ws-row[data-conversation-id]"));
  }

  function select(row) {
    rows().forEach(function (r) {
      r.classList.toggle("selected", r === row);
    });
    if (row) {
      selectedId = row.dataset.conversationId;
      const link = row.querySelector("a");
      if (link) {
        link.focus();
      }
    }
  }

  function move(step) {
    const all = rows();
    if (!all.length) {
      return;
    }
    let index = all.findIndex(function (r) {
      return r.dataset.conversationId === selectedId;
    });
    index = index < 0 ? 0 : Math.max(0, Math.min(all.length - 1, index + step));
    select(all[index]);
  }

  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "ws-list" && selectedId) {
      const again = rows().find(function (r) {
        return r.dataset.conversationId === selectedId;
      });
      if (again) {
        again.classList.add("selected");
      }
    }
  });

  // -- one conversation: history ---------------------------------------------------------------------
  const history = document.getElementById("ws-history");
  let lastSeq = Number(root.dataset.lastSeq || 0);
  let loading = false;
  let loadAgain = false;

  function parseItems(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return Array.prototype.slice.call(template.content.querySelectorAll("li.msg"));
  }

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
  }

  function messagesUrl(query) {
    return "/inbox/conversations/" + conversationId + "/messages" + (query ? "?" + query : "");
  }

  function loadNew() {
    if (!history) {
      return;
    }
    if (loading) {
      loadAgain = true;
      return;
    }
    loading = true;
    const stick = nearBottom();
    fetch(messagesUrl("after_seq=" + lastSeq), { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : "";
      })
      .catch(function () {
        return "";
      })
      .then(function (html) {
        parseItems(html).forEach(function (item) {
          if (!document.getElementById(item.id)) {
            history.appendChild(item);
          }
          lastSeq = Math.max(lastSeq, Number(item.dataset.seq) || 0);
        });
        if (stick) {
          window.scrollTo(0, document.body.scrollHeight);
        }
        markRead();
        loading = false;
        if (loadAgain) {
          loadAgain = false;
          loadNew();
        }
      });
  }

  function reloadHistory() {
    if (!history) {
      return;
    }
    fetch(messagesUrl(""), { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .catch(function () {
        return null;
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        const items = parseItems(html);
        const openEditors = history.querySelector("details.msg-actions[open]");
        if (openEditors) {
          return; // never pull an edit form away from under the agent
        }
        Array.prototype.slice.call(history.querySelectorAll("li.msg")).forEach(function (old) {
          if (items.length === 0 || Number(old.dataset.seq) >= Number(items[0].dataset.seq)) {
            old.remove();
          }
        });
        items.forEach(function (item) {
          history.appendChild(item);
          lastSeq = Math.max(lastSeq, Number(item.dataset.seq) || 0);
        });
      });
  }

  function loadOlder(button) {
    const before = button.dataset.beforeSeq;
    button.disabled = true;
    fetch(messagesUrl("before_seq=" + encodeURIComponent(before)), { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : "";
      })
      .catch(function () {
        return "";
      })
      .then(function (html) {
        const items = parseItems(html);
        const holder = document.getElementById("ws-older");
        const anchor = holder ? holder.nextSibling : history.firstChild;
        items.forEach(function (item) {
          if (!document.getElementById(item.id)) {
            history.insertBefore(item, anchor);
          }
        });
        if (!items.length || Number(items[0].dataset.seq) <= 1) {
          if (holder) {
            holder.remove();
          }
        } else {
          button.dataset.beforeSeq = items[0].dataset.seq;
          button.disabled = false;
        }
      });
  }

  let readSent = 0;
  function markRead() {
    if (!conversationId || document.hidden || lastSeq <= readSent) {
      return;
    }
    readSent = lastSeq;
    request("POST", "/api/v1/conversations/" + conversationId + "/read", { seq: lastSeq });
  }

  let headerPending = false;
  function refreshHeader() {
    const header = document.getElementById("ws-header");
    if (header && header.contains(document.activeElement) && document.activeElement !== document.body) {
      headerPending = true; // refreshed when the agent leaves the controls
      return;
    }
    headerPending = false;
    fire("kefu:conversation");
  }
  document.addEventListener("focusout", function () {
    if (headerPending) {
      setTimeout(refreshHeader, 50);
    }
  });

  function onConversationEvent(name, data) {
    if (name === "message.posted") {
      loadNew();
      if (data.author_kind === "customer") {
        alertUser(t.newMessage || "", data.body || "", window.location.pathname);
      }
      if (data.author_kind === "customer" && others.customer) {
        delete others.customer;
        renderCollision();
      }
      if (data.author_user_id && others[data.author_user_id]) {
        others[data.author_user_id].typing = false;
        renderCollision();
      }
    } else if (name === "message.revised") {
      reloadHistory();
    } else if (name.indexOf("conversation.") === 0 && name !== "conversation.read") {
      refreshHeader();
    }
  }

  // -- collision warnings: who else is viewing or typing ---------------------------------------------
  const collision = document.getElementById("ws-collision");
  const others = {};
  const SIGNAL_TTL = 10000;

  function sendViewing() {
    if (conversationId) {
      send({ type: "agent.viewing", conversation_id: conversationId });
    }
  }

  function onSignal(name, data) {
    if (!conversationId || data.conversation_id !== conversationId || data.user_id === me) {
      return;
    }
    if (data.who === "customer") {
      // The visitor's widget: only "typing" is worth a line (they are no colleague viewing).
      if (name === "typing" && data.typing === true) {
        others.customer = { name: customerName, typing: true, at: Date.now() };
      } else {
        delete others.customer;
      }
      renderCollision();
      return;
    }
    const entry = others[data.user_id] || { name: "", typing: false, at: 0 };
    entry.name = String(data.name || "");
    entry.at = Date.now();
    if (name === "typing") {
      entry.typing = data.typing === true;
    }
    others[data.user_id] = entry;
    renderCollision();
  }

  function renderCollision() {
    if (!collision) {
      return;
    }
    const now = Date.now();
    const lines = [];
    Object.keys(others).forEach(function (id) {
      const entry = others[id];
      if (now - entry.at > SIGNAL_TTL) {
        delete others[id];
        return;
      }
      const template = entry.typing ? t.typing : t.viewing;
      lines.push((template || "{name}").replace("{name}", entry.name));
    });
    collision.textContent = lines.join(" · ");
    collision.hidden = lines.length === 0;
    collision.classList.toggle("typing", hasTyping());
  }

  function hasTyping() {
    return Object.keys(others).some(function (id) {
      return others[id].typing;
    });
  }

  if (conversationId) {
    setInterval(sendViewing, 5000);
    setInterval(renderCollision, 2000);
  }

  // -- the composer ----------------------------------------------------------------------------------
  const composer = document.getElementById("composer");
  const textarea = document.getElementById("composer-body");
  const noteBox = document.getElementById("composer-note");
  const errorLine = document.getElementById("composer-error");
  const popup = document.getElementById("qr-popup");
  const fileInput = document.getElementById("composer-file");
  const fileList = document.getElementById("composer-files");
  let attachmentIds = [];
  let pendingClientId = null;
  let sending = false;

  function showError(text) {
    if (errorLine) {
      errorLine.textContent = text || "";
      errorLine.hidden = !text;
    }
  }

  function newClientId() {
    const bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return "w" + Array.prototype.map
      .call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      })
      .join("");
  }

  function setNoteMode(on) {
    if (noteBox) {
      noteBox.checked = on;
    }
    if (composer) {
      composer.classList.toggle("is-note", on);
    }
  }

  function submitComposer() {
    if (!composer || sending) {
      return;
    }
    const body = textarea.value;
    if (!body.trim() && !attachmentIds.length) {
      return;
    }
    // The same id until the server confirms: a retry after a lost answer is not a duplicate.
    pendingClientId = pendingClientId || newClientId();
    sending = true;
    const isNote = Boolean(noteBox && noteBox.checked);
    request("POST", "/api/v1/conversations/" + conversationId + "/messages", {
      body: body,
      is_note: isNote,
      client_id: pendingClientId,
      attachment_ids: attachmentIds,
    }).then(function (response) {
      sending = false;
      if (response && response.ok) {
        pendingClientId = null;
        textarea.value = "";
        attachmentIds = [];
        if (fileList) {
          fileList.textContent = "";
        }
        showError("");
        sendTyping(false);
        loadNew();
        return;
      }
      problemDetail(response, t.sendFailed).then(showError);
    });
  }

  // Typing signals: at most one "typing" every 3 s, and "stopped" after 4 s of quiet.
  let typingSentAt = 0;
  let typingOn = false;
  const typingStopped = debounce(function () {
    sendTyping(false);
  }, 4000);
  function sendTyping(on) {
    if (!conversationId) {
      return;
    }
    const note = Boolean(noteBox && noteBox.checked);
    if (on && typingOn && Date.now() - typingSentAt < 3000) {
      return;
    }
    if (!on && !typingOn) {
      return;
    }
    typingOn = on;
    typingSentAt = Date.now();
    send({ type: "agent.typing", conversation_id: conversationId, typing: on, note: note });
  }

  // Suggestions (quick replies after "/", agents after "@" in notes) share one popup.
  let suggestions = [];
  let active = -1;
  let quickRepliesAvailable = true;
  let applySuggestion = null;

  function closePopup() {
    suggestions = [];
    active = -1;
    if (popup) {
      popup.hidden = true;
      popup.textContent = "";
    }
  }

  function openPopup(items, apply) {
    if (!popup || !items.length) {
      closePopup();
      return;
    }
    suggestions = items;
    applySuggestion = apply;
    active = 0;
    popup.textContent = "";
    items.forEach(function (item, index) {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.dataset.index = String(index);
      const label = document.createElement("strong");
      label.textContent = item.label;
      li.appendChild(label);
      if (item.hint) {
        const hint = document.createElement("span");
        hint.className = "muted";
        hint.textContent = " " + item.hint;
        li.appendChild(hint);
      }
      li.addEventListener("mousedown", function (event) {
        event.preventDefault();
        choose(index);
      });
      popup.appendChild(li);
    });
    popup.hidden = false;
    highlight();
  }

  function highlight() {
    Array.prototype.forEach.call(popup.children, function (li, index) {
      li.classList.toggle("active", index === active);
      li.setAttribute("aria-selected", index === active ? "true" : "false");
    });
  }

  function choose(index) {
    const item = suggestions[index];
    if (item && applySuggestion) {
      applySuggestion(item);
    }
    closePopup();
    textarea.focus();
  }

  const suggestQuickReplies = debounce(function () {
    const value = textarea.value;
    if (!quickRepliesAvailable || value.charAt(0) !== "/" || value.indexOf("\n") >= 0) {
      closePopup();
      return;
    }
    const query = value.slice(1, 41);
    const url =
      "/api/v1/quick-replies/suggest?q=" +
      encodeURIComponent(query) +
      "&conversation_id=" +
      encodeURIComponent(String(conversationId));
    request("GET", url).then(function (response) {
      if (response && response.status === 404) {
        // The endpoint is not there (yet): stop asking.
        quickRepliesAvailable = false;
        closePopup();
        return;
      }
      json(response).then(function (items) {
        if (!Array.isArray(items) || textarea.value.charAt(0) !== "/") {
          closePopup();
          return;
        }
        openPopup(
          items.slice(0, 10).map(function (item) {
            return {
              label: "/" + String(item.shortcut || "") + " " + String(item.title || ""),
              hint: String(item.text || "").slice(0, 60),
              text: String(item.text || ""),
            };
          }),
          function (item) {
            textarea.value = item.text;
          }
        );
      });
    });
  }, 150);

  function suggestMentions() {
    const source = document.getElementById("mention-source");
    if (!source || !noteBox || !noteBox.checked) {
      return false;
    }
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = /@([^\s@]{0,30})$/.exec(before);
    if (!match) {
      return false;
    }
    const typed = match[1].toLowerCase();
    const names = Array.prototype.map
      .call(source.children, function (li) {
        return li.dataset.name || "";
      })
      .filter(function (name) {
        return name && name.toLowerCase().indexOf(typed) >= 0;
      })
      .slice(0, 8);
    openPopup(
      names.map(function (name) {
        return { label: "@" + name, hint: "", text: name };
      }),
      function (item) {
        const start = before.length - match[0].length;
        const after = textarea.value.slice(textarea.selectionStart);
        textarea.value = textarea.value.slice(0, start) + "@" + item.text + " " + after;
        const caret = start + item.text.length + 2;
        textarea.setSelectionRange(caret, caret);
      }
    );
    return true;
  }

  if (composer && textarea) {
    composer.addEventListener("submit", function (event) {
      event.preventDefault();
      submitComposer();
    });
    if (noteBox) {
      noteBox.addEventListener("change", function () {
        setNoteMode(noteBox.checked);
      });
    }
    textarea.addEventListener("keydown", function (event) {
      if (popup && !popup.hidden && suggestions.length) {
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          const step = event.key === "ArrowDown" ? 1 : -1;
          active = (active + step + suggestions.length) % suggestions.length;
          highlight();
          return;
        }
        if (event.key === "Enter" || event.key === "Tab") {
          event.preventDefault();
          choose(active);
          return;
        }
        if (event.key === "Escape") {
          event.preventDefault();
          closePopup();
          return;
        }
      }
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        submitComposer();
      }
    });
    textarea.addEventListener("input", function () {
      if (textarea.value.trim()) {
        sendTyping(true);
        typingStopped();
      } else {
        sendTyping(false);
      }
      if (!suggestMentions()) {
        suggestQuickReplies();
      }
    });
    textarea.addEventListener("blur", function () {
      setTimeout(closePopup, 150);
    });
  }

  // Attachments: uploaded at once, sent with the next message.
  if (fileInput && fileList) {
    fileInput.addEventListener("change", function () {
      Array.prototype.forEach.call(fileInput.files, function (file) {
        const form = new FormData();
        form.append("file", file);
        request("POST", "/api/v1/conversations/" + conversationId + "/attachments", form).then(function (response) {
          if (!response || !response.ok) {
            problemDetail(response, t.uploadFailed).then(showError);
            return;
          }
          json(response).then(function (body) {
            if (!body || typeof body.id !== "number") {
              return;
            }
            attachmentIds.push(body.id);
            const li = document.createElement("li");
            li.textContent = String(body.filename || "");
            const remove = document.createElement("button");
            remove.type = "button";
            remove.className = "small linklike";
            remove.textContent = "×";
            remove.addEventListener("click", function () {
              attachmentIds = attachmentIds.filter(function (id) {
                return id !== body.id;
              });
              li.remove();
            });
            li.appendChild(remove);
            fileList.appendChild(li);
          });
        });
      });
      fileInput.value = "";
    });
  }

  // Macros: listed when the endpoint exists; applying one refreshes the page's parts.
  const macros = document.getElementById("ws-macros");
  const macroList = document.getElementById("macro-list");
  const macroButton = document.getElementById("ws-macros-open");
  if (macros && macroList && macroButton && conversationId) {
    request("GET", "/api/v1/macros")
      .then(json)
      .then(function (items) {
        const list = Array.isArray(items) ? items : items && Array.isArray(items.items) ? items.items : null;
        if (!list || !list.length) {
          return;
        }
        list.slice(0, 50).forEach(function (macro) {
          const li = document.createElement("li");
          const button = document.createElement("button");
          button.type = "button";
          button.className = "linklike";
          button.textContent = String(macro.name || "");
          button.addEventListener("click", function () {
            macroList.hidden = true;
            macroButton.setAttribute("aria-expanded", "false");
            request("POST", "/api/v1/macros/" + encodeURIComponent(macro.id) + "/apply", {
              conversation_id: conversationId,
            }).then(function (response) {
              if (!response || !response.ok) {
                problemDetail(response, t.sendFailed).then(showError);
                return;
              }
              refreshHeader();
              loadNew();
            });
          });
          li.appendChild(button);
          macroList.appendChild(li);
        });
        macros.hidden = false;
      });
    macroButton.addEventListener("click", function () {
      macroList.hidden = !macroList.hidden;
      macroButton.setAttribute("aria-expanded", macroList.hidden ? "false" : "true");
    });
  }

  if (history) {
    history.addEventListener("click", function (event) {
      const button = event.target.closest && event.target.closest("#ws-older button");
      if (button) {
        loadOlder(button);
      }
    });
    window.scrollTo(0, document.body.scrollHeight);
    markRead();
  }

  // -- presence ------------------------------------------------------------------------------------------
  const presenceForm = document.getElementById("ws-presence");
  const presenceState = document.getElementById("ws-presence-state");
  const presenceMessage = document.getElementById("ws-presence-message");
  const IDLE_MS = 10 * 60 * 1000;
  let presence = null;
  let lastActivity = Date.now();

  function putPresence(state, automatic) {
    const body = {
      state: state,
      status_message: presenceMessage ? presenceMessage.value : "",
      automatic: automatic,
    };
    return request("PUT", "/api/v1/presence/me", body)
      .then(json)
      .then(function (answer) {
        if (answer) {
          presence = answer;
          if (presenceState) {
            presenceState.value = answer.state;
          }
        }
      });
  }

  if (presenceForm && presenceState) {
    request("GET", "/api/v1/presence/me")
      .then(json)
      .then(function (answer) {
        if (!answer || typeof answer.state !== "string") {
          return; // no presence on this server (yet): the control stays hidden
        }
        presence = answer;
        presenceState.value = answer.state;
        if (presenceMessage) {
          presenceMessage.value = answer.status_message || "";
        }
        presenceForm.hidden = false;
        setInterval(function () {
          request("POST", "/api/v1/presence/heartbeat", {});
        }, 30000);
        setInterval(function () {
          if (presence && presence.state === "online" && Date.now() - lastActivity > IDLE_MS) {
            putPresence("away", true);
          }
        }, 30000);
      });
    presenceState.addEventListener("change", function () {
      putPresence(presenceState.value, false);
    });
    if (presenceMessage) {
      presenceMessage.addEventListener("change", function () {
        putPresence(presenceState.value, false);
      });
    }
    presenceForm.addEventListener("submit", function (event) {
      event.preventDefault();
    });
  }

  let activityThrottle = 0;
  function onActivity() {
    const now = Date.now();
    if (now - activityThrottle < 1000) {
      return;
    }
    activityThrottle = now;
    lastActivity = now;
    if (presence && presence.state === "away" && presence.automatic) {
      putPresence("online", false);
    }
  }
  ["mousemove", "keydown", "click", "scroll", "touchstart"].forEach(function (name) {
    window.addEventListener(name, onActivity, { passive: true });
  });

  // -- help overlay and keyboard shortcuts --------------------------------------------------------------
  const help = document.getElementById("ws-help");
  function toggleHelp(show) {
    if (help) {
      help.hidden = !show;
      if (show) {
        const close = document.getElementById("ws-help-close");
        if (close) {
          close.focus();
        }
      }
    }
  }
  const helpOpen = document.getElementById("ws-help-open");
  if (helpOpen) {
    helpOpen.addEventListener("click", function () {
      toggleHelp(true);
    });
  }
  const helpClose = document.getElementById("ws-help-close");
  if (helpClose) {
    helpClose.addEventListener("click", function () {
      toggleHelp(false);
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && help && !help.hidden) {
      toggleHelp(false);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) {
      return;
    }
    switch (event.key) {
      case "j":
      case "k":
        if (page === "inbox") {
          event.preventDefault();
          move(event.key === "j" ? 1 : -1);
        }
        break;
      case "Enter":
        if (page === "inbox" && selectedId && !(event.target.closest && event.target.closest("a, button"))) {
          event.preventDefault();
          window.location.href = "/inbox/conversations/" + selectedId;
        }
        break;
      case "r":
      case "n":
        if (textarea) {
          event.preventDefault();
          setNoteMode(event.key === "n");
          textarea.focus();
        }
        break;
      case "e": {
        const resolve = document.getElementById("ws-resolve");
        if (resolve) {
          event.preventDefault();
          if (resolve.requestSubmit) {
            resolve.requestSubmit();
          } else {
            resolve.submit();
          }
        }
        break;
      }
      case "?":
        event.preventDefault();
        toggleHelp(help ? help.hidden : false);
        break;
      default:
        break;
    }
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      markRead();
    }
  });

  connect();
})();
