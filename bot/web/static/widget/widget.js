/*
 * FSGS assistant chat widget. Embed it with a config object and one script tag:
 *
 *   <script type="application/json" id="fsgs-widget-config">
 *     {"socketUrl": "https://assistant.example.org"}
 *   </script>
 *   <script src="https://assistant.example.org/widget/widget.js" defer></script>
 *
 * It talks to Rasa's socket.io channel with session persistence, through socket.io-client v4
 * (npm package, served next to this file from node_modules). The conversation (session id and the
 * messages shown) is kept in sessionStorage, or localStorage with "storage": "local", so a reload
 * shows the history and rejoins the same conversation. All text is inserted as text, never as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var base = new URL(".", script.src).href;
  var configElement = document.getElementById("fsgs-widget-config");
  var config = Object.assign({
    socketUrl: window.location.origin,
    socketPath: "/socket.io",
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
  var storage = config.storage === "local" ? window.localStorage : window.sessionStorage;
  var state = loadState();
  var socket = null;
  var confirmed = false;
  var outbox = [];
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

  var human = element("button", "fsgs-human", "Talk to a person");
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
    render(message);
    showQuickReplies(message.quick);
    log.scrollTop = log.scrollHeight;
  }

  function setTyping(on) {
    clearTimeout(typingTimer);
    typing.hidden = !on;
    if (on) typingTimer = setTimeout(function () { typing.hidden = true; }, config.typingTimeoutMs);
  }

  function receive(payload) {
    if (!payload || typeof payload !== "object") return;
    var text = typeof payload.text === "string" ? payload.text : "";
    var replies = (Array.isArray(payload.quick_replies) ? payload.quick_replies : [])
      .filter(function (r) { return r && typeof r.title === "string" && typeof r.payload === "string"; })
      .map(function (r) { return {title: r.title, payload: r.payload}; });
    if (!text && !replies.length) return;
    setTyping(false);
    if (payload.from_care_team === true) {
      var name = typeof payload.staff_name === "string" && payload.staff_name !== CARE_TEAM
        ? CARE_TEAM + " \u00b7 " + payload.staff_name : CARE_TEAM;
      add({from: "staff", label: name, text: text});
    } else {
      add({from: "bot", text: text, quick: replies});
    }
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
    while (confirmed && outbox.length) {
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
      flush();
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
  human.addEventListener("click", function () { send(config.humanRequest, "Talk to a person"); });

  // --- Start: the socket.io client, then the saved conversation --------------------------------
  var client = element("script");
  client.src = base + "vendor/socket.io.min.js";
  client.onload = function () {
    state.messages.forEach(render);
    var last = state.messages[state.messages.length - 1];
    if (last) showQuickReplies(last.quick);
    if (state.sessionId) connect();  // a conversation is going on: staff replies may arrive
    launcher.disabled = false;
    if (state.open) setOpen(true);
  };
  client.onerror = function () { launcher.textContent = "Chat unavailable, please try later"; };
  document.head.appendChild(client);
})();
