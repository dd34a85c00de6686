// The chat window inside the widget's iframe (served from kefu's own origin).
// Every text from the network is shown with textContent: never innerHTML with data.
(function () {
  "use strict";

  var config = readJson("kf-config");
  var T = readJson("kf-strings");
  var KEY = config.key;
  var STORE = "kefu:" + KEY + ":";
  var URL_PATTERN = /(https?:\/\/[^\s<>"'`]+)/g;

  var state = {
    token: null,
    contactId: null,
    widget: null,
    online: true,
    conversation: null, // {id, status, ...}
    shown: {}, // seq -> <li>
    bySeqMax: 0,
    agentRead: 0,
    outbox: [], // [{client_id, body, attachment_ids, conversation_id}]
    pendingFiles: [], // [{id, filename}]
    socket: null,
    socketOpen: false,
    retry: 0,
    lastTopicId: null,
    visible: window.parent === window,
    unread: 0,
    parentOrigin: null,
    settings: null,
    typingTimer: null,
    lastTypingSent: 0,
    transcriptByEmail: false, // the server sends mail: offer the chat transcript by email
    email: null, // the visitor's address, when they gave one (pre-chat, 留言, host page)
    mode: "chat", // what the widget offers first: chat, offline_message, callback, bot_only
    queue: null, // the last place in line: {conversation_id, waiting, position, wait_minutes, ...}
    queueTimer: null
  };

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }

  function $(id) {
    return document.getElementById(id);
  }

  // Where the browser refuses storage to this frame (it is third-party on the host's site), the
  // host page keeps our few values in its own storage: the loader hands them back with
  // "kefu:init" and saves what we send with "kefu:store". Only then, never otherwise.
  var frameStorage = (function () {
    try {
      window.localStorage.setItem(STORE + "probe", "1");
      window.localStorage.removeItem(STORE + "probe");
      return true;
    } catch (e) {
      return false;
    }
  })();
  var hostStore = {};

  function store(name, value) {
    if (!frameStorage) {
      if (value === null) {
        delete hostStore[name];
      } else {
        hostStore[name] = value;
      }
      toParent({ type: "kefu:store", name: name, value: value });
      return;
    }
    try {
      if (value === null) {
        window.localStorage.removeItem(STORE + name);
      } else {
        window.localStorage.setItem(STORE + name, JSON.stringify(value));
      }
    } catch (e) {
      // Storage may be blocked in third-party frames: memory alone still works for this visit.
    }
  }

  function load(name) {
    if (!frameStorage) {
      return Object.prototype.hasOwnProperty.call(hostStore, name) ? hostStore[name] : null;
    }
    try {
      var raw = window.localStorage.getItem(STORE + name);
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      })
      .join("");
  }

  // -- talking to the host page ---------------------------------------------------------------
  function allowedParent(origin) {
    var origins = config.origins || [];
    return origins.length === 0 || origins.indexOf(origin) >= 0 || origin === window.location.origin;
  }

  function toParent(message) {
    if (window.parent !== window && state.parentOrigin) {
      window.parent.postMessage(message, state.parentOrigin);
    }
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || !allowedParent(event.origin)) {
      return;
    }
    var data = event.data || {};
    if (data.type === "kefu:init") {
      state.parentOrigin = event.origin;
      state.settings = data.settings && typeof data.settings === "object" ? data.settings : null;
      if (!frameStorage && data.stored && typeof data.stored === "object") {
        Object.keys(data.stored).forEach(function (name) {
          hostStore[name] = data.stored[name];
        });
      }
      start();
    } else if (data.type === "kefu:visible") {
      state.visible = !!data.visible;
      if (state.visible) {
        state.unread = 0;
        reportUnread();
        markRead();
        $("kf-input").focus();
      }
    }
  });

  function reportUnread() {
    toParent({ type: "kefu:unread", count: state.unread });
  }

  // -- HTTP ---------------------------------------------------------------------------------------
  function api(method, path, body, isForm) {
    var headers = { Accept: "application/json" };
    if (state.token) {
      headers.Authorization = "Visitor " + state.token;
    }
    var options = { method: method, headers: headers, credentials: "omit" };
    if (body !== undefined) {
      if (isForm) {
        options.body = body;
      } else {
        headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(body);
      }
    }
    return fetch("/api/v1/widget" + path, options).then(function (response) {
      if (response.status === 204) {
        return null;
      }
      return response.json().then(function (data) {
        if (!response.ok) {
          var error = new Error(data.detail || T.error);
          error.status = response.status;
          error.problem = data;
          throw error;
        }
        return data;
      });
    });
  }

  // -- starting ---------------------------------------------------------------------------------
  var started = false;

  function start() {
    if (started) {
      return;
    }
    started = true;
    state.outbox = load("outbox") || [];
    var body = { visitor_token: load("token") || undefined };
    var s = state.settings;
    if (s && s.userId) {
      body.user_id = String(s.userId);
      body.user_hash = String(s.userHash || "");
    }
    if (s && s.name) {
      body.name = String(s.name).slice(0, 100);
    }
    if (s && s.email) {
      body.email = String(s.email).slice(0, 254);
      rememberEmail(body.email);
    }
    api("POST", "/" + encodeURIComponent(KEY) + "/session", body)
      .catch(function (error) {
        if (error.status === 401 && body.visitor_token) {
          store("token", null); // a stale token: start over as a new visitor
          delete body.visitor_token;
          return api("POST", "/" + encodeURIComponent(KEY) + "/session", body);
        }
        throw error;
      })
      .then(function (session) {
        state.token = session.token;
        state.contactId = session.contact_id;
        state.widget = session.widget;
        state.online = session.online;
        state.mode = session.mode || "chat";
        state.transcriptByEmail = !!session.transcript_by_email;
        store("token", session.token);
        if (session.conversation) {
          openConversation(session.conversation);
        } else {
          showStart();
        }
        connect();
        toParent({ type: "kefu:ready", look: session.widget.look });
      })
      .catch(function (error) {
        notice(error.message || T.error);
        toParent({ type: "kefu:ready", look: { title: config.title, color: config.color, position: config.position } });
      });
  }

  function show(id) {
    ["kf-loading", "kf-prechat", "kf-offline", "kf-callback-start", "kf-thanks", "kf-chat"].forEach(function (pane) {
      $(pane).hidden = pane !== id;
    });
  }

  function showStart() {
    state.conversation = null;
    state.queue = null;
    refreshTranscript();
    refreshQueueBanner();
    showNote();
    if (state.mode === "callback") {
      show("kf-callback-start");
    } else if (!state.online && state.mode !== "bot_only") {
      show("kf-offline");
    } else if (state.widget.prechat.enabled && state.widget.prechat.fields.length) {
      show("kf-prechat");
    } else {
      show("kf-chat");
      $("kf-ended").hidden = true;
      $("kf-composer").hidden = false;
    }
  }

  function openConversation(conversation) {
    state.conversation = conversation;
    refreshTranscript();
    state.agentRead = conversation.agent_last_read_seq || 0;
    show("kf-chat");
    var ended = conversation.status === "closed";
    $("kf-ended").hidden = !ended;
    $("kf-composer").hidden = ended;
    showNote();
    refreshQueueBanner();
    fetchQueue();
    fetchMissing();
  }

  function notice(text) {
    var node = $("kf-notice");
    node.textContent = text || "";
    node.hidden = !text;
  }

  function fieldErrors(form, error) {
    form.querySelectorAll("[data-error-for]").forEach(function (node) {
      node.hidden = true;
      node.textContent = "";
    });
    if (!error) {
      return;
    }
    var items = (error.problem && error.problem.errors) || [];
    var placed = false;
    items.forEach(function (item) {
      var name = String(item.field || "").split(".").pop();
      var node = form.querySelector('[data-error-for="' + cssEscape(name) + '"]');
      if (node) {
        node.textContent = item.message;
        node.hidden = false;
        placed = true;
      }
    });
    if (!placed) {
      var general = form.querySelector('[data-error-for="_form"]');
      general.textContent = error.message || T.error;
      general.hidden = false;
    }
  }

  function cssEscape(text) {
    return window.CSS && window.CSS.escape ? window.CSS.escape(text) : text.replace(/[^a-z0-9_]/gi, "");
  }

  function formValues(form) {
    var values = {};
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string" && value.trim()) {
        values[name] = value.trim();
      }
    });
    return values;
  }

  $("kf-prechat-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var values = formValues(form);
    if (values.email) {
      rememberEmail(values.email);
    }
    api("POST", "/conversations", { prechat: values })
      .then(function (result) {
        fieldErrors(form, null);
        renderAll(result.messages);
        openConversation(result.conversation);
      })
      .catch(function (error) {
        fieldErrors(form, error);
      });
  });

  $("kf-offline-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var values = formValues(form);
    values.client_id = uuid();
    if (values.email) {
      rememberEmail(values.email);
    }
    api("POST", "/offline", values)
      .then(function () {
        fieldErrors(form, null);
        form.reset();
        $("kf-thanks-text").textContent = THANKS;
        show("kf-thanks");
      })
      .catch(function (error) {
        fieldErrors(form, error);
      });
  });

  $("kf-new").addEventListener("click", function () {
    clearMessages();
    showStart();
  });

  // -- messages -----------------------------------------------------------------------------------
  function clearMessages() {
    $("kf-messages").textContent = "";
    state.shown = {};
    state.bySeqMax = 0;
    state.agentRead = 0;
  }

  function appendText(parent, text) {
    // Links only for http(s) addresses; everything else stays plain text.
    var parts = String(text || "").split(URL_PATTERN);
    parts.forEach(function (part, index) {
      if (index % 2 === 1) {
        var link = document.createElement("a");
        link.href = part;
        link.textContent = part;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        parent.appendChild(link);
      } else if (part) {
        parent.appendChild(document.createTextNode(part));
      }
    });
  }

  function attachmentNode(item) {
    var wrap = document.createElement("div");
    wrap.className = "kf-attachment";
    if (!item.url) {
      wrap.textContent = "📎 " + item.filename;
      return wrap;
    }
    var link = document.createElement("a");
    link.href = item.url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    if (item.is_image) {
      var img = document.createElement("img");
      img.src = item.url;
      img.alt = item.filename;
      img.loading = "lazy";
      link.appendChild(img);
    } else {
      link.textContent = "📎 " + item.filename;
    }
    wrap.appendChild(link);
    return wrap;
  }

  function messageNode(message) {
    var li = document.createElement("li");
    var mine = message.author_kind === "customer";
    li.className = "kf-msg kf-" + (mine ? "mine" : message.author_kind);
    li.dataset.seq = String(message.seq || "");
    if (message.client_id) {
      li.dataset.clientId = message.client_id;
    }
    if (!mine && message.author_kind !== "system") {
      var who = document.createElement("span");
      who.className = "kf-who";
      who.textContent = message.author_name || T.agent;
      li.appendChild(who);
    }
    var bubble = document.createElement("div");
    bubble.className = "kf-bubble";
    // System lines are stored in English: show the visitor's language where the kind is known.
    var systemText = null;
    if (message.author_kind === "system" && message.kind === "transfer") {
      systemText = T.transferred;
    } else if (message.author_kind === "system" && message.kind === "transcript") {
      // "Transcript emailed to <address>": the address is the last word.
      systemText = T.transcript_line.replace("%(email)s", String(message.body || "").split(" ").pop());
    } else if (message.author_kind === "system" && message.kind === "offline") {
      // "Left a message; reply by email to <address>": the address is the last word.
      systemText = T.offline_line.replace("%(email)s", String(message.body || "").split(" ").pop());
    } else if (message.author_kind === "system" && message.kind === "callback") {
      // "Callback requested: <number> (<when>)": what follows the colon is the visitor's own text.
      var details = String(message.body || "");
      systemText = T.callback_line.replace("%(details)s", details.slice(details.indexOf(":") + 1).trim());
    }
    appendText(bubble, systemText || message.body);
    (message.attachments || []).forEach(function (item) {
      bubble.appendChild(attachmentNode(item));
    });
    li.appendChild(bubble);
    var meta = document.createElement("span");
    meta.className = "kf-meta";
    li.appendChild(meta);
    return li;
  }

  function updateMeta(li) {
    var meta = li.querySelector(".kf-meta");
    if (!meta || !li.classList.contains("kf-mine")) {
      return;
    }
    var seq = Number(li.dataset.seq || 0);
    if (!seq) {
      meta.textContent = li.classList.contains("kf-failed") ? T.failed : T.sending;
    } else {
      meta.textContent = seq <= state.agentRead ? T.read : "";
    }
  }

  function render(message) {
    if (!message || !message.seq) {
      return;
    }
    if (state.conversation && message.conversation_id && message.conversation_id !== state.conversation.id) {
      return;
    }
    var list = $("kf-messages");
    var node = messageNode(message);
    var existing = state.shown[message.seq];
    if (!existing && message.client_id) {
      existing = list.querySelector('li[data-client-id="' + cssEscape(message.client_id) + '"]:not([data-seq])');
      if (!existing) {
        existing = list.querySelector('li[data-client-id="' + cssEscape(message.client_id) + '"][data-seq=""]');
      }
    }
    if (existing) {
      list.replaceChild(node, existing);
    } else {
      // Keep the list ordered by number; pending messages (no number yet) stay last.
      var before = null;
      Array.prototype.some.call(list.children, function (li) {
        var seq = Number(li.dataset.seq || 0);
        if (!seq || seq > message.seq) {
          before = li;
          return true;
        }
        return false;
      });
      list.insertBefore(node, before);
      if (message.author_kind === "agent") {
        hideTyping(); // the message it announced is here; its "stopped" signal may come later
      }
      if (message.author_kind !== "customer") {
        if (!state.visible || document.hidden) {
          state.unread += 1;
          reportUnread();
        }
      }
    }
    state.shown[message.seq] = node;
    state.bySeqMax = Math.max(state.bySeqMax, message.seq);
    if (message.client_id) {
      acknowledge(message.client_id);
    }
    updateMeta(node);
    scrollDown();
  }

  function renderAll(messages) {
    (messages || []).forEach(render);
    markRead();
  }

  function renderPending(entry) {
    var node = messageNode({ author_kind: "customer", body: entry.body, client_id: entry.client_id, attachments: entry.files || [] });
    node.dataset.seq = "";
    $("kf-messages").appendChild(node);
    updateMeta(node);
    scrollDown();
  }

  function scrollDown() {
    var list = $("kf-messages");
    list.scrollTop = list.scrollHeight;
  }

  function refreshReadMarks() {
    Array.prototype.forEach.call($("kf-messages").children, updateMeta);
  }

  function fetchMissing() {
    if (!state.conversation) {
      return Promise.resolve();
    }
    var id = state.conversation.id;
    return api("GET", "/conversations/" + id + "/messages?after_seq=" + state.bySeqMax)
      .then(function (result) {
        if (state.conversation && state.conversation.id === id) {
          renderAll(result.items);
        }
      })
      .catch(function () {});
  }

  function markRead() {
    if (!state.conversation || !state.bySeqMax || !(state.visible && !document.hidden)) {
      return;
    }
    if (state.lastReadSent >= state.bySeqMax) {
      return;
    }
    state.lastReadSent = state.bySeqMax;
    var command = { type: "chat.read", conversation_id: state.conversation.id, seq: state.bySeqMax };
    if (!sendCommand(command)) {
      api("POST", "/conversations/" + state.conversation.id + "/read", { seq: state.bySeqMax }).catch(function () {});
    }
  }

  document.addEventListener("visibilitychange", markRead);

  // -- sending: an outbox that survives reloads and reconnects ---------------------------------
  function saveOutbox() {
    store("outbox", state.outbox);
  }

  function acknowledge(clientId) {
    var before = state.outbox.length;
    state.outbox = state.outbox.filter(function (entry) {
      return entry.client_id !== clientId;
    });
    if (state.outbox.length !== before) {
      saveOutbox();
    }
  }

  function markFailed(clientId) {
    var node = $("kf-messages").querySelector('li[data-client-id="' + cssEscape(clientId) + '"][data-seq=""]');
    if (node) {
      node.classList.add("kf-failed");
      updateMeta(node);
    }
  }

  function deliver(entry) {
    if (!state.conversation) {
      return;
    }
    entry.conversation_id = entry.conversation_id || state.conversation.id;
    var command = {
      type: "chat.send",
      ref: entry.client_id,
      conversation_id: entry.conversation_id,
      client_id: entry.client_id,
      body: entry.body,
      attachment_ids: entry.attachment_ids
    };
    if (sendCommand(command)) {
      return;
    }
    api("POST", "/conversations/" + entry.conversation_id + "/messages", {
      client_id: entry.client_id,
      body: entry.body,
      attachment_ids: entry.attachment_ids
    })
      .then(function (result) {
        render(result.message);
      })
      .catch(function (error) {
        handleSendError(entry, error.status, error.message);
      });
  }

  function handleSendError(entry, status, message) {
    if (status === 409 || status === 404 || status === 403 || status === 422) {
      acknowledge(entry.client_id); // it will never go through: do not retry forever
      var node = $("kf-messages").querySelector('li[data-client-id="' + cssEscape(entry.client_id) + '"][data-seq=""]');
      if (node) {
        node.remove();
      }
      notice(message || T.error);
      if (status === 409 && state.conversation) {
        state.conversation.status = "closed";
        $("kf-ended").hidden = false;
        $("kf-composer").hidden = true;
      }
      return;
    }
    markFailed(entry.client_id);
    if (status === 429) {
      notice(message);
    }
  }

  function flushOutbox() {
    state.outbox.forEach(function (entry) {
      if (!state.conversation || entry.conversation_id === state.conversation.id) {
        deliver(entry);
      }
    });
  }

  function submitMessage() {
    var input = $("kf-input");
    var body = input.value.trim();
    var files = state.pendingFiles.slice();
    if (!body && !files.length) {
      return;
    }
    input.value = "";
    state.pendingFiles = [];
    renderFiles();
    // Clear an earlier error, but not the news that the connection is still down.
    notice(state.socket && !state.socketOpen ? T.reconnecting : "");
    var entry = {
      client_id: uuid(),
      body: body,
      attachment_ids: files.map(function (f) {
        return f.id;
      }),
      files: files,
      conversation_id: state.conversation ? state.conversation.id : null
    };
    sendTyping(false);
    if (!state.conversation) {
      // The first message opens the conversation (no pre-chat form on this widget).
      renderPending(entry);
      api("POST", "/conversations", { prechat: {}, message: { client_id: entry.client_id, body: body, attachment_ids: entry.attachment_ids } })
        .then(function (result) {
          state.conversation = result.conversation;
          refreshTranscript();
          renderAll(result.messages);
          fetchQueue();
        })
        .catch(function (error) {
          handleSendError(entry, error.status, error.message);
        });
      return;
    }
    state.outbox.push(entry);
    saveOutbox();
    renderPending(entry);
    deliver(entry);
  }

  $("kf-composer").addEventListener("submit", function (event) {
    event.preventDefault();
    submitMessage();
  });

  $("kf-input").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitMessage();
    }
  });

  $("kf-input").addEventListener("input", function () {
    sendTyping(true);
  });

  $("kf-input").addEventListener("blur", function () {
    sendTyping(false);
  });

  function sendTyping(typing) {
    if (!state.conversation) {
      return;
    }
    var now = Date.now();
    if (typing && now - state.lastTypingSent < 3000) {
      return;
    }
    if (!typing && !state.lastTypingSent) {
      return;
    }
    state.lastTypingSent = typing ? now : 0;
    sendCommand({ type: "chat.typing", conversation_id: state.conversation.id, typing: typing });
  }

  // -- attachments ----------------------------------------------------------------------------------
  function renderFiles() {
    var list = $("kf-files");
    list.textContent = "";
    state.pendingFiles.forEach(function (file, index) {
      var li = document.createElement("li");
      li.textContent = "📎 " + file.filename + " ";
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "kf-link";
      remove.textContent = T.remove;
      remove.addEventListener("click", function () {
        state.pendingFiles.splice(index, 1);
        renderFiles();
      });
      li.appendChild(remove);
      list.appendChild(li);
    });
  }

  function ensureConversation() {
    if (state.conversation) {
      return Promise.resolve(state.conversation);
    }
    return api("POST", "/conversations", { prechat: {} }).then(function (result) {
      state.conversation = result.conversation;
      refreshTranscript();
      renderAll(result.messages);
      fetchQueue();
      return result.conversation;
    });
  }

  $("kf-file").addEventListener("change", function (event) {
    var input = event.target;
    var file = input.files && input.files[0];
    input.value = "";
    if (!file) {
      return;
    }
    ensureConversation()
      .then(function (conversation) {
        var data = new FormData();
        data.append("file", file, file.name);
        return api("POST", "/conversations/" + conversation.id + "/attachments", data, true);
      })
      .then(function (attachment) {
        state.pendingFiles.push({ id: attachment.id, filename: attachment.filename, url: attachment.url, is_image: attachment.is_image });
        renderFiles();
        notice("");
      })
      .catch(function (error) {
        notice(error.message || T.upload_failed);
      });
  });

  // -- emoji ------------------------------------------------------------------------------------------
  $("kf-emoji-button").addEventListener("click", function () {
    var panel = $("kf-emoji");
    panel.hidden = !panel.hidden;
    $("kf-emoji-button").setAttribute("aria-expanded", String(!panel.hidden));
  });

  $("kf-emoji").addEventListener("click", function (event) {
    var button = event.target.closest("[data-emoji]");
    if (!button) {
      return;
    }
    var input = $("kf-input");
    var at = input.selectionStart || input.value.length;
    input.value = input.value.slice(0, at) + button.dataset.emoji + input.value.slice(input.selectionEnd || at);
    input.focus();
  });

  $("kf-close").addEventListener("click", function () {
    toParent({ type: "kefu:close" });
  });

  // -- the transcript by email ------------------------------------------------------------------------
  function rememberEmail(email) {
    state.email = email;
    store("email", email);
  }

  function refreshTranscript() {
    var offered = !!(state.transcriptByEmail && state.conversation && state.conversation.id);
    $("kf-transcript-open").hidden = !offered;
    if (!offered) {
      closeTranscript(false);
    }
  }

  function openTranscript() {
    var form = $("kf-transcript");
    var input = $("kf-t-email");
    fieldErrors(form, null);
    $("kf-transcript-done").textContent = "";
    if (!input.value) {
      input.value = state.email || load("email") || "";
    }
    form.hidden = false;
    $("kf-transcript-open").setAttribute("aria-expanded", "true");
    input.focus();
  }

  function closeTranscript(focusButton) {
    var form = $("kf-transcript");
    if (form.hidden) {
      return;
    }
    form.hidden = true;
    $("kf-transcript-open").setAttribute("aria-expanded", "false");
    if (focusButton && !$("kf-transcript-open").hidden) {
      $("kf-transcript-open").focus();
    }
  }

  function frameLocale() {
    return (document.documentElement.lang || "").indexOf("en") === 0 ? "en" : "zh_CN";
  }

  $("kf-transcript-open").addEventListener("click", function () {
    if ($("kf-transcript").hidden) {
      openTranscript();
    } else {
      closeTranscript(true);
    }
  });

  $("kf-transcript-close").addEventListener("click", function () {
    closeTranscript(true);
  });

  $("kf-transcript").addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      closeTranscript(true);
    }
  });

  $("kf-transcript").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var button = $("kf-transcript-send");
    if (!state.conversation || button.disabled) {
      return;
    }
    button.disabled = true;
    $("kf-transcript-done").textContent = "";
    var body = { email: $("kf-t-email").value.trim(), locale: frameLocale() };
    api("POST", "/conversations/" + state.conversation.id + "/transcript", body)
      .then(function (result) {
        fieldErrors(form, null);
        rememberEmail(result.email);
        $("kf-transcript-done").textContent = T.transcript_sent.replace("%(email)s", result.email);
      })
      .catch(function (error) {
        fieldErrors(form, error);
      })
      .then(function () {
        button.disabled = false;
      });
  });

  // -- waiting: the place in line, 留言 instead, a callback --------------------------------------------
  var QUEUE_POLL_MS = 60000; // also refetched now and then: far back in a long line no signal comes
  var THANKS = $("kf-thanks-text").textContent; // the 留言 form's; the callback form says its own

  function waitingHere() {
    var c = state.conversation;
    return !!(c && c.id && c.status === "open" && !c.offline);
  }

  function fetchQueue() {
    window.clearTimeout(state.queueTimer);
    if (!waitingHere()) {
      showQueue(null);
      return;
    }
    var id = state.conversation.id;
    api("GET", "/conversations/" + id + "/queue")
      .then(function (data) {
        showQueue(data);
      })
      .catch(function () {});
  }

  function showQueue(data) {
    var current = state.conversation;
    if (data && (!current || data.conversation_id !== current.id)) {
      return; // about another (older) conversation of this visitor
    }
    state.queue = data && data.waiting && waitingHere() ? data : null;
    refreshQueueBanner();
    window.clearTimeout(state.queueTimer);
    if (state.queue) {
      state.queueTimer = window.setTimeout(fetchQueue, QUEUE_POLL_MS);
    }
  }

  function queueText(q) {
    if (q.open === false) {
      return T.queue_closed;
    }
    if (!q.present) {
      return T.queue_nobody;
    }
    var ahead = Math.max(0, (q.position || 1) - 1);
    var text = ahead > 0 ? T.queue_ahead.replace("%(n)s", String(ahead)) : T.queue_next;
    if (q.wait_minutes) {
      text += " · " + T.queue_wait.replace("%(m)s", String(q.wait_minutes));
    }
    return text;
  }

  function refreshQueueBanner() {
    var banner = $("kf-queue");
    var q = state.queue;
    var c = state.conversation;
    if (!q) {
      banner.hidden = true;
      delete banner.dataset.position;
      closeDrawer("kf-leave", false);
      closeDrawer("kf-callback", false);
    } else {
      var text = queueText(q);
      if ($("kf-queue-text").textContent !== text) {
        $("kf-queue-text").textContent = text; // only on change: screen readers announce each change
      }
      banner.dataset.position = String(q.position);
      banner.dataset.present = q.present ? "1" : "0";
      banner.hidden = false;
    }
    var done = "";
    if (c && c.offline && c.reply_email) {
      done = T.left_message.replace("%(email)s", c.reply_email);
    } else if (q && c && c.callback && c.callback.phone) {
      done = T.callback_requested.replace("%(phone)s", c.callback.phone);
    }
    $("kf-queue-done").textContent = done;
    $("kf-queue-done").hidden = !done;
    $("kf-callback-open").hidden = !!(c && c.callback);
  }

  function showNote() {
    var note = $("kf-note");
    var text = "";
    if (state.mode === "bot_only") {
      text = (state.widget && state.widget.texts && state.widget.texts.away) || T.bot_only;
    }
    note.textContent = text;
    note.hidden = !text;
  }

  function openDrawer(id, focus) {
    closeDrawer(id === "kf-leave" ? "kf-callback" : "kf-leave", false);
    var form = $(id);
    fieldErrors(form, null);
    form.hidden = false;
    $(id + "-open").setAttribute("aria-expanded", "true");
    $(focus).focus();
  }

  function closeDrawer(id, focusButton) {
    var form = $(id);
    if (form.hidden) {
      return;
    }
    form.hidden = true;
    var button = $(id + "-open");
    button.setAttribute("aria-expanded", "false");
    if (focusButton && !button.hidden && !$("kf-queue").hidden) {
      button.focus();
    }
  }

  ["kf-leave", "kf-callback"].forEach(function (id) {
    $(id + "-open").addEventListener("click", function () {
      if (!$(id).hidden) {
        closeDrawer(id, true);
      } else if (id === "kf-leave") {
        var input = $("kf-l-email");
        if (!input.value) {
          input.value = state.email || load("email") || "";
        }
        openDrawer(id, input.value ? "kf-l-body" : "kf-l-email");
      } else {
        openDrawer(id, "kf-c-phone");
      }
    });
    $(id + "-close").addEventListener("click", function () {
      closeDrawer(id, true);
    });
    $(id).addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.preventDefault();
        closeDrawer(id, true);
      }
    });
  });

  function submitDrawer(form, button, path, body, done) {
    if (!state.conversation || button.disabled) {
      return;
    }
    button.disabled = true;
    api("POST", "/conversations/" + state.conversation.id + path, body)
      .then(function (result) {
        fieldErrors(form, null);
        form.reset();
        if (state.conversation && result.conversation && result.conversation.id === state.conversation.id) {
          state.conversation = result.conversation;
        }
        done(result);
        fetchMissing();
      })
      .catch(function (error) {
        fieldErrors(form, error);
        if (error.status === 409) {
          fetchQueue(); // taken meanwhile: the banner goes
        }
      })
      .then(function () {
        button.disabled = false;
      });
  }

  $("kf-leave").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var body = { email: $("kf-l-email").value.trim() || null, body: $("kf-l-body").value.trim(), client_id: uuid() };
    submitDrawer(form, $("kf-leave-send"), "/offline", body, function (result) {
      rememberEmail(result.email);
      closeDrawer("kf-leave", false);
      showQueue(null); // a 留言 waits for the morning, not in front of the screen
      $("kf-input").focus();
    });
  });

  $("kf-callback").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var body = { phone: $("kf-c-phone").value.trim(), preferred_time: $("kf-c-time").value.trim() || null };
    submitDrawer(form, $("kf-callback-send"), "/callback", body, function () {
      closeDrawer("kf-callback", false);
      refreshQueueBanner();
      $("kf-queue-done").focus();
    });
  });

  $("kf-callback-start-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var values = formValues(form);
    values.client_id = uuid();
    api("POST", "/callback", values)
      .then(function (result) {
        fieldErrors(form, null);
        form.reset();
        var phone = (result.conversation.callback && result.conversation.callback.phone) || values.phone;
        $("kf-thanks-text").textContent = T.callback_requested.replace("%(phone)s", phone);
        show("kf-thanks");
      })
      .catch(function (error) {
        fieldErrors(form, error);
      });
  });

  // -- the socket ---------------------------------------------------------------------------------------
  function sendCommand(command) {
    if (state.socket && state.socketOpen) {
      state.socket.send(JSON.stringify(command));
      return true;
    }
    return false;
  }

  function connect() {
    if (!state.token) {
      return;
    }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/api/v1/realtime?visitor_token=" + encodeURIComponent(state.token));
    state.socket = socket;
    socket.addEventListener("message", function (event) {
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      onFrame(frame);
    });
    socket.addEventListener("close", function () {
      state.socketOpen = false;
      if (state.socket !== socket) {
        return;
      }
      notice(T.reconnecting);
      var delay = Math.min(30000, 1000 * Math.pow(2, state.retry)) * (0.5 + Math.random() / 2);
      state.retry += 1;
      window.setTimeout(connect, delay);
    });
  }

  function topic() {
    return "visitor:" + state.contactId;
  }

  function onFrame(frame) {
    if (frame.type === "hello") {
      state.socketOpen = true;
      state.retry = 0;
      notice("");
      var subscribe = { type: "subscribe", topic: topic() };
      var last = load("last_id");
      if (typeof last === "number") {
        subscribe.last_id = last;
      }
      sendCommand(subscribe);
    } else if (frame.type === "subscribed" && frame.topic === topic()) {
      if (typeof load("last_id") !== "number") {
        store("last_id", frame.last_id);
      }
      fetchMissing().then(flushOutbox);
      fetchQueue(); // signals have no history: what changed while we were away comes over HTTP
    } else if (frame.type === "event" && frame.topic === topic()) {
      store("last_id", frame.id);
      onEvent(frame.event, frame.data || {});
    } else if (frame.type === "reload" && frame.topic === topic()) {
      store("last_id", frame.last_id);
      fetchMissing();
    } else if (frame.type === "signal" && frame.topic === topic()) {
      onSignal(frame.event, frame.data || {});
    } else if (frame.type === "chat.ack") {
      render(frame.message);
    } else if (frame.type === "error" && frame.ref) {
      var entry = state.outbox.filter(function (e) {
        return e.client_id === frame.ref;
      })[0];
      if (entry) {
        var status = { "rate-limited": 429, forbidden: 403, conflict: 409, "invalid-input": 422 }[frame.code] || 0;
        handleSendError(entry, status, frame.detail);
      }
    }
  }

  function onEvent(name, data) {
    var current = state.conversation;
    if (name === "message.posted") {
      if (!current || data.conversation_id !== current.id) {
        return;
      }
      if (data.attachments && data.attachments.length) {
        fetchMissing(); // attachment links are signed per visitor: take them from the API
      } else {
        render(data);
      }
      if (data.author_kind === "agent" && state.queue) {
        fetchQueue(); // an agent answers: the banner goes (its signal may come a moment later)
      }
      markRead();
    } else if (name === "conversation.read" && current && data.conversation_id === current.id) {
      if (data.reader !== "customer") {
        state.agentRead = Math.max(state.agentRead, data.seq);
        refreshReadMarks();
      }
    } else if (name === "conversation.status_changed" && current && data.conversation_id === current.id) {
      current.status = data.status;
      var ended = data.status === "closed";
      $("kf-ended").hidden = !ended;
      $("kf-composer").hidden = ended;
      if (data.status !== "open") {
        showQueue(null);
      } else {
        fetchQueue();
      }
    } else if (name === "message.revised" && current && data.conversation_id === current.id) {
      var node = state.shown[data.seq];
      if (node) {
        var bubble = node.querySelector(".kf-bubble");
        bubble.textContent = "";
        appendText(bubble, data.body);
      }
    }
  }

  function onSignal(name, data) {
    if (name === "queue.position") {
      showQueue(data);
      return;
    }
    if (name !== "typing" || data.who === "customer") {
      return;
    }
    if (state.conversation && data.conversation_id && data.conversation_id !== state.conversation.id) {
      return;
    }
    if (!data.typing) {
      hideTyping();
      return;
    }
    $("kf-typing").hidden = false;
    window.clearTimeout(state.typingTimer);
    state.typingTimer = window.setTimeout(hideTyping, 8000);
  }

  function hideTyping() {
    window.clearTimeout(state.typingTimer);
    $("kf-typing").hidden = true;
  }

  // -- go ------------------------------------------------------------------------------------------------
  if (config.color) {
    document.documentElement.style.setProperty("--kf-color", config.color);
  }
  if (window.parent === window) {
    start(); // opened on its own (a direct link): no host page to wait for
  } else {
    // Ask the host page for its settings; without an answer, carry on as an anonymous visitor.
    window.parent.postMessage({ type: "kefu:hello" }, "*");
    window.setTimeout(start, 1500);
  }
})();
