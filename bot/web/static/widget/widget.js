/*
 * FSGS assistant chat widget. Embed it with a config object and one script tag:
 *
 *   <script type="application/json" id="fsgs-widget-config">
 *     {"socketUrl": "https://assistant.example.org"}
 *   </script>
 *   <script src="https://assistant.example.org/widget/widget.js" defer></script>
 *
 * It talks to Rasa's socket.io channel with session persistence, through socket.io-client v4
 * (npm package, served next to this file from node_modules). The session id and a copy of the
 * messages are kept in sessionStorage, or localStorage with "storage": "local", so a reload rejoins
 * the same conversation and paints it at once. The server's history ("historyUrl", by default next
 * to this file) is the truth: socket.io drops what is sent while the page is closed or offline (a
 * care-team reply, say), so after every (re)connect the conversation is redrawn from the server.
 * All text is inserted as text, never as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var base = new URL(".", script.src).href;
  var configElement = document.getElementById("fsgs-widget-config");
  var config = Object.assign({
    socketUrl: window.location.origin,
    socketPath: "/socket.io",
    historyUrl: new URL("history/", base).href,
    title: "FSGS information assistant",
    disclaimer: "General information about FSGS only, not medical advice. " +
      "In an emergency, call your local emergency number.",
    humanRequest: "/request_human",
    storage: "session",
    typingTimeoutMs: 20000
  }, configElement ? JSON.parse(configElement.textContent) : {});

  var STORAGE_KEY = "fsgs-widget";
  var MAX_KEPT_MESSAGES = 200;
  var CARE_TEAM = "Care team";
  var HUMAN_LABEL = "Talk to a person";
  var storage = config.storage === "local" ? window.localStorage : window.sessionStorage;
  var state = loadState();
  var socket = null;
  var confirmed = false;
  var outbox = [];
  var loading = null;  // while the history is on its way: the messages shown meanwhile
  var typingTimer = null;

  function loadState() {
    try {
      var saved = JSON.parse(storage.getItem(STORAGE_KEY));
      if (saved && Array.isArray(saved.messages)) return saved;
    } catch (e) { /* unreadable: start afresh */ }
    return {sessionId: null, messages: [], open: false};
  }

  function saveState() {
    state.messages = state.messages.slice(-MAX_KEPT_MESSAGES);
    try { storage.setItem(STORAGE_KEY, JSON.stringify(state)); } catch (e) { /* full or blocked */ }
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  // --- Layout ---------------------------------------------------------------------------------
  var stylesheet = element("link");
  stylesheet.rel = "stylesheet";
  stylesheet.href = base + "widget.css";
  document.head.appendChild(stylesheet);

  var root = element("div", "fsgs-widget");
  var launcher = element("button", "fsgs-launcher", "Chat about FSGS");
  launcher.type = "button";
  launcher.setAttribute("aria-controls", "fsgs-panel");
  launcher.setAttribute("aria-expanded", "false");
  launcher.disabled = true;  // until the socket.io client has loaded

  var panel = element("section", "fsgs-panel");
  panel.id = "fsgs-panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-labelledby", "fsgs-title");
  panel.setAttribute("aria-describedby", "fsgs-disclaimer");
  panel.hidden = true;

  var header = element("header", "fsgs-header");
  var title = element("h2", "fsgs-title", config.title);
  title.id = "fsgs-title";
  var close = element("button", "fsgs-close");
  close.type = "button";
  close.setAttribute("aria-label", "Close chat");
  close.textContent = "\u00d7";
  header.append(title, close);

  var disclaimer = element("p", "fsgs-disclaimer", config.disclaimer);
  disclaimer.id = "fsgs-disclaimer";
  var status = element("p", "fsgs-status");
  status.setAttribute("role", "status");

  var log = element("ol", "fsgs-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", "Conversation");
  log.tabIndex = 0;  // scrollable by keyboard

  var typing = element("p", "fsgs-typing");
  typing.setAttribute("aria-hidden", "true");  // replies are announced by the log itself
  typing.append(element("span", "fsgs-dot"), element("span", "fsgs-dot"), element("span", "fsgs-dot"),
                element("span", "fsgs-typing-text", "The assistant is typing\u2026"));
  typing.hidden = true;

  var quick = element("div", "fsgs-quick");
  quick.setAttribute("role", "group");
  quick.setAttribute("aria-label", "Suggested replies");

  var form = element("form", "fsgs-form");
  var label = element("label", "fsgs-sr", "Your message");
  label.htmlFor = "fsgs-input";
  var input = element("input", "fsgs-input");
  input.id = "fsgs-input";
  input.type = "text";
  input.autocomplete = "off";
  input.maxLength = 2000;
  input.placeholder = "Type your question";
  var sendButton = element("button", "fsgs-send", "Send");
  sendButton.type = "submit";
  form.append(label, input, sendButton);

  var human = element("button", "fsgs-human", HUMAN_LABEL);
  human.type = "button";

  panel.append(header, disclaimer, status, log, typing, quick, form, human);
  root.append(panel, launcher);
  document.body.appendChild(root);

  // --- Messages -------------------------------------------------------------------------------
  function render(message) {
    var item = element("li", "fsgs-msg fsgs-msg--" + message.from);
    if (message.from === "staff") {
      item.appendChild(element("span", "fsgs-label", message.label));
    } else {
      item.appendChild(element("span", "fsgs-sr", message.from === "user" ? "You:" : "Assistant:"));
    }
    item.appendChild(element("p", "fsgs-text", message.text));
    log.appendChild(item);
  }

  function showQuickReplies(replies) {
    quick.replaceChildren();
    (replies || []).forEach(function (reply) {
      var button = element("button", "fsgs-quick-reply", reply.title);
      button.type = "button";
      button.addEventListener("click", function () { send(reply.payload, reply.title); });
      quick.appendChild(button);
    });
  }

  function add(message) {
    state.messages.push(message);
    saveState();
    if (loading) loading.push(message);
    render(message);
    showQuickReplies(message.quick);
    log.scrollTop = log.scrollHeight;
  }

  function showAll() {
    log.replaceChildren();
    state.messages.forEach(render);
    var last = state.messages[state.messages.length - 1];
    showQuickReplies(last && last.quick);
    log.scrollTop = log.scrollHeight;
  }

  function same(a, b) { return a.from === b.from && a.text === b.text; }

  // The server's lines replace what is shown. Messages shown while they were on their way are kept
  // unless the history already ends with them (Rasa records a turn only once it is over).
  function showHistory(messages, shownMeanwhile) {
    var tail = messages.slice(Math.max(0, messages.length - shownMeanwhile.length));
    shownMeanwhile.forEach(function (message) {
      if (!tail.some(function (line) { return same(line, message); })) messages.push(message);
    });
    var before = state.messages[state.messages.length - 1];
    var after = messages[messages.length - 1];
    if (panel.hidden && after && !(before && same(before, after))) {
      launcher.classList.add("fsgs-launcher--unread");
    }
    state.messages = messages;
    saveState();
    showAll();
  }

  // History lines have the shape of live payloads; the patient's button clicks were recorded as
  // payloads and are shown with the button's title, as when they were sent.
  function fromHistory(lines) {
    var offered = [];
    return (Array.isArray(lines) ? lines : []).map(function (line) {
      if (!line || line.from !== "user") {
        var message = toMessage(line);
        if (message && message.quick) offered = message.quick;
        return message;
      }
      if (typeof line.text !== "string") return null;
      var button = offered.find(function (reply) { return reply.payload === line.text; });
      return {from: "user", text: line.text === config.humanRequest ? HUMAN_LABEL
        : button ? button.title : line.text};
    }).filter(Boolean);
  }

  // The patient's own messages wait until the history is shown, so it cannot hide them.
  function loadHistory() {
    var shownMeanwhile = loading = loading ? loading.slice() : [];  // a reconnect restarts it
    fetch(config.historyUrl + encodeURIComponent(state.sessionId),
          {credentials: "omit", cache: "no-store"})
      .then(function (response) {
        if (!response.ok) throw new Error("history: HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        if (loading === shownMeanwhile) showHistory(fromHistory(body.messages), shownMeanwhile);
      })
      .catch(function () { /* keep the browser's copy; the next (re)connect tries again */ })
      .then(function () {
        if (loading !== shownMeanwhile) return;  // a newer connection is loading it again
        loading = null;
        flush();
      });
  }

  function setTyping(on) {
    clearTimeout(typingTimer);
    typing.hidden = !on;
    if (on) typingTimer = setTimeout(function () { typing.hidden = true; }, config.typingTimeoutMs);
  }

  function toMessage(payload) {
    if (!payload || typeof payload !== "object") return null;
    var text = typeof payload.text === "string" ? payload.text : "";
    var replies = (Array.isArray(payload.quick_replies) ? payload.quick_replies : [])
      .filter(function (r) { return r && typeof r.title === "string" && typeof r.payload === "string"; })
      .map(function (r) { return {title: r.title, payload: r.payload}; });
    if (!text && !replies.length) return null;
    if (payload.from_care_team !== true) return {from: "bot", text: text, quick: replies};
    var name = typeof payload.staff_name === "string" && payload.staff_name !== CARE_TEAM
      ? CARE_TEAM + " \u00b7 " + payload.staff_name : CARE_TEAM;
    // Not yet delivered when the history was read: shown already, so not again when it arrives.
    return payload.delivered === false ? {from: "staff", label: name, text: text, pending: true}
      : {from: "staff", label: name, text: text};
  }

  function receive(payload) {
    var message = toMessage(payload);
    if (!message) return;
    setTyping(false);
    var shown = message.from === "staff" && state.messages.find(function (old) {
      return old.pending && same(old, message);
    });
    if (shown) {
      delete shown.pending;
      saveState();
      return;
    }
    add(message);
    if (panel.hidden) launcher.classList.add("fsgs-launcher--unread");
  }

  function send(text, shown) {
    if (!text.trim()) return;
    add({from: "user", text: shown || text});
    outbox.push(text);
    connect();
    flush();
    setTyping(true);
  }

  function flush() {
    while (confirmed && !loading && outbox.length) {
      socket.emit("user_uttered", {message: outbox.shift(), session_id: state.sessionId});
    }
  }

  // --- Connection: one socket, rejoining the same session after every (re)connect -------------
  function connect() {
    if (socket) return;
    socket = window.io(config.socketUrl, {
      path: config.socketPath, transports: ["websocket", "polling"], tryAllTransports: true
    });
    socket.on("connect", function () {
      socket.emit("session_request", {session_id: state.sessionId});
    });
    socket.on("session_confirm", function (sessionId) {
      state.sessionId = typeof sessionId === "string" ? sessionId : sessionId.session_id;
      saveState();
      confirmed = true;
      status.textContent = "";
      loadHistory();  // this also covers the page's load: a saved conversation connects at once
    });
    socket.on("bot_uttered", receive);
    socket.on("disconnect", function (reason) {
      confirmed = false;
      status.textContent = "Connection lost. Reconnecting\u2026";
      if (reason === "io server disconnect") socket.connect();  // the only case without auto-retry
    });
    socket.on("connect_error", function () {
      confirmed = false;
      status.textContent = "Cannot reach the assistant. Retrying\u2026";
    });
  }

  // --- Opening and closing --------------------------------------------------------------------
  function setOpen(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.classList.toggle("fsgs-launcher--open", open);
    state.open = open;
    saveState();
    if (open) {
      launcher.classList.remove("fsgs-launcher--unread");
      connect();
      log.scrollTop = log.scrollHeight;
      input.focus();
    }
  }

  launcher.addEventListener("click", function () { setOpen(panel.hidden); });
  close.addEventListener("click", function () { setOpen(false); launcher.focus(); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { setOpen(false); launcher.focus(); }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = "";
    send(text);
  });
  human.addEventListener("click", function () { send(config.humanRequest, HUMAN_LABEL); });

  // --- Start: the socket.io client, then the saved conversation --------------------------------
  var client = element("script");
  client.src = base + "vendor/socket.io.min.js";
  client.onload = function () {
    showAll();  // the browser's copy first, until the server's history arrives
    if (state.sessionId) connect();  // a conversation is going on: staff replies may arrive
    launcher.disabled = false;
    if (state.open) setOpen(true);
  };
  client.onerror = function () { launcher.textContent = "Chat unavailable, please try later"; };
  document.head.appendChild(client);
})();
