// Staff notice, on every console page: a sound, a browser notification (once allowed) and an
// in-page banner for each new urgent ticket and each ticket raised to urgent, and the number of
// urgent tickets nobody has claimed in the tab title. Refreshes when console.js sees a queue
// change (the "console:change" event) and every 10 s otherwise. Never shows patient words.
"use strict";

(function () {
  var STORAGE_KEY = "fsgs-console-priorities";
  var TITLE_COUNT = /^\(\d+ urgent\) /;
  var audio = null;
  var known = null;
  var inFlight = false;

  function loadKnown() {
    try { return JSON.parse(window.sessionStorage.getItem(STORAGE_KEY)); } catch (e) { return null; }
  }

  function saveKnown(priorities) {
    try { window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(priorities)); } catch (e) { /* private mode */ }
  }

  function unlockAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return null; }
    if (!audio) { audio = new Context(); }
    if (audio.state === "suspended") { audio.resume().catch(function () {}); }
    return audio;
  }

  // Two short high tones: generated here, nothing to download.
  function beep() {
    var context = unlockAudio();
    if (!context) { return; }
    [0, 0.22].forEach(function (offset) {
      var oscillator = context.createOscillator();
      var gain = context.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, context.currentTime + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, context.currentTime + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, context.currentTime + offset + 0.18);
      oscillator.connect(gain);
      gain.connect(context.destination);
      oscillator.start(context.currentTime + offset);
      oscillator.stop(context.currentTime + offset + 0.2);
    });
  }

  function label(reason) { return reason.replace(/_/g, " "); }

  function banner(text, ticketId) {
    var holder = document.getElementById("attention-banner");
    if (!holder) {
      holder = document.createElement("div");
      holder.id = "attention-banner";
      holder.setAttribute("role", "alert");
      var main = document.getElementById("main");
      main.insertBefore(holder, main.firstChild);
    }
    var line = document.createElement("p");
    line.className = "alert error attention";
    var link = document.createElement("a");
    link.href = "/console/tickets/" + ticketId;
    link.textContent = text;
    line.appendChild(link);
    holder.insertBefore(line, holder.firstChild);
    while (holder.children.length > 3) { holder.removeChild(holder.lastChild); }
  }

  function notify(ticket, raised) {
    var title = (raised ? "Raised to urgent: ticket #" : "Urgent ticket #") + ticket.id;
    var body = label(ticket.reason) + " via " + ticket.channel + (ticket.status === "claimed" ? " (claimed)" : "") +
      ". Click to open the ticket.";
    banner(title + ": " + body, ticket.id);
    beep();
    if (!("Notification" in window) || Notification.permission !== "granted") { return; }
    try {
      var shown = new Notification(title, { body: body, tag: "fsgs-urgent-" + ticket.id, requireInteraction: true });
      shown.onclick = function () { window.focus(); window.location.assign("/console/tickets/" + ticket.id); };
    } catch (e) { /* some platforms only allow notifications from a service worker */ }
  }

  function showCount(urgentOpen) {
    var bare = document.title.replace(TITLE_COUNT, "");
    document.title = (urgentOpen ? "(" + urgentOpen + " urgent) " : "") + bare;
  }

  function check() {
    if (inFlight) { return; }
    inFlight = true;
    fetch("/console/attention.json", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        showCount(data.urgent_open);
        var now = {};
        data.tickets.forEach(function (ticket) {
          now[ticket.id] = ticket.priority;
          if (known && ticket.priority === "urgent" && known[ticket.id] !== "urgent") {
            notify(ticket, ticket.raised === true);
          }
        });
        known = now;
        saveKnown(now);
      })
      .catch(function () { /* signed out or offline: console.js shows it; the next check retries */ })
      .then(function () { inFlight = false; });
  }

  function offerPermission() {
    var button = document.getElementById("enable-alerts");
    if (!button) { return; }
    button.hidden = !("Notification" in window) || Notification.permission !== "default";
    button.addEventListener("click", function () {
      unlockAudio();
      Notification.requestPermission().then(function () {
        button.hidden = Notification.permission !== "default";
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    known = loadKnown();
    offerPermission();
    // Browsers only start sound after the person has interacted with the page.
    ["click", "keydown"].forEach(function (type) { document.addEventListener(type, unlockAudio, { once: true }); });
    document.addEventListener("console:change", check);
    check();
    window.setInterval(check, 10000);
  });
})();
