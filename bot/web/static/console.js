// Staff console behaviour: live queue and conversation refresh over server-sent events, one-shot
// forms, screen-reader announcements. Everything shown comes from server-rendered, escaped HTML.
"use strict";

(function () {
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/login"); throw new Error("signed out"); }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      });
  }

  function announce(text) {
    var region = document.getElementById("announcer");
    if (!region) { return; }
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  function setLiveState(text) {
    var badge = document.getElementById("live-state");
    if (badge) { badge.textContent = text; }
  }

  function listen(onChange) {
    var source = new EventSource("/console/events");
    source.addEventListener("change", function (event) {
      setLiveState("live");
      onChange(JSON.parse(event.data));
      document.dispatchEvent(new CustomEvent("console:change")); // attention.js: urgent notices
    });
    source.addEventListener("signed-out", function () { source.close(); window.location.assign("/login"); });
    source.onerror = function () { setLiveState("reconnecting…"); };
    source.onopen = function () { setLiveState("live"); };
  }

  // Forms marked data-once: a second click while the first submit is in flight does nothing.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-once")) { return; }
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    var button = form.querySelector("button[type=submit]");
    if (button) { button.setAttribute("aria-disabled", "true"); button.classList.add("busy"); }
  });

  function queuePage(container) {
    var known = null;
    function ids(tickets) { return tickets.map(function (t) { return t.id; }); }
    function refresh() {
      return getJSON(container.dataset.live).then(function (data) {
        container.innerHTML = data.html;
        var urgent = document.getElementById("urgent-count");
        urgent.textContent = data.counts.urgent_open + " urgent";
        urgent.classList.toggle("none", !data.counts.urgent_open);
        document.getElementById("open-count").textContent = data.counts.open + " open";
        document.getElementById("claimed-count").textContent = data.counts.claimed + " claimed";
        var current = ids(data.tickets);
        if (known !== null) {
          var fresh = data.tickets.filter(function (t) { return known.indexOf(t.id) < 0; });
          if (fresh.length) {
            var first = fresh[0];
            announce((fresh.length === 1 ? "New ticket: " : fresh.length + " new tickets. First: ") +
              (first.priority === "urgent" ? "urgent, " : "") + first.reason.replace(/_/g, " ") +
              ", via " + first.channel + ".");
          }
        }
        known = current;
      }).catch(function () { setLiveState("offline"); });
    }
    refresh();
    listen(refresh);
    window.setInterval(refresh, 30000); // waiting times keep growing without any change event
  }

  function ticketPage(page) {
    var notified = false;
    function refresh() {
      return getJSON(page.dataset.live).then(function (data) {
        document.getElementById("transcript").innerHTML = data.transcript;
        document.getElementById("trail").innerHTML = data.trail;
        document.getElementById("alerts").innerHTML = data.alerts;
        if (data.state !== page.dataset.state && !notified) {
          notified = true;
          var notice = document.getElementById("ticket-notice");
          notice.innerHTML = "";
          var p = document.createElement("p");
          p.className = "alert info";
          p.appendChild(document.createTextNode("This ticket's status changed. "));
          var link = document.createElement("a");
          link.href = window.location.pathname;
          link.textContent = "Reload to see the current actions";
          p.appendChild(link);
          notice.appendChild(p);
        }
      }).catch(function () { /* keep what is shown; the next event retries */ });
    }
    listen(refresh);
    window.setInterval(refresh, 5000); // patient messages reach Rasa, not the ticket store
  }

  document.addEventListener("DOMContentLoaded", function () {
    var error = document.getElementById("action-error");
    if (error) { error.focus(); }
    var queue = document.getElementById("queue");
    if (queue) { queuePage(queue); }
    var ticket = document.querySelector(".ticket-page");
    if (ticket) { ticketPage(ticket); }
  });
})();
