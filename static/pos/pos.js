/*
 * The cashier's point-of-sale page. Plain JavaScript, no build step, no CDN.
 *
 * Talks to the staff API (/api/v1/) with the session cookie and the CSRF token. Every
 * button press gets a fresh Idempotency-Key that is reused when the same operation is
 * retried, and the buttons are disabled while a request is in flight, so a double tap or
 * a network retry never stamps twice. Text from the server is always set with
 * textContent, never parsed as HTML, so a customer's name cannot inject markup.
 */
(function () {
  "use strict";

  var API = "/api/v1/";
  var AUTO_RETRIES = 2;
  var boot = JSON.parse(document.getElementById("pos-bootstrap").textContent);
  var staff = boot.staff;
  var card = null; // the card on screen, as the API describes it
  var busy = false;
  var pending = null; // the operation the Retry button sends again (same key, same body)

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function sleep(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    // Plain-HTTP tablets are not a "secure context": no randomUUID, but getRandomValues works.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // Texts in the page's language (English or French): Django's JavaScript catalogue at /pos/jsi18n/
  // (locale/fr/LC_MESSAGES/djangojs.po), loaded before this file; English when it is missing.
  var _ = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };

  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (whole, name) { return String(values[name]); });
  }

  var WORDS = {
    point: ["%(n)s point", "%(n)s points"],
    stamp: ["%(n)s stamp", "%(n)s stamps"],
    minute: ["%(n)s minute", "%(n)s minutes"],
    "more stamp": ["%(n)s more stamp", "%(n)s more stamps"],
  };

  function plural(n, word) {
    var forms = WORDS[word];
    return fmt(ngettext(forms[0], forms[1], Math.abs(n)), { n: n });
  }

  function signed(n) {
    return n > 0 ? "+" + n : n < 0 ? "\u2212" + Math.abs(n) : "";
  }

  // --- talking to the API ------------------------------------------------------------

  function api(method, path, body, key) {
    var headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    return fetch(API + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return null;
        })
        .then(function (data) {
          return { status: response.status, ok: response.ok, data: data };
        });
    });
  }

  function errorMessage(result) {
    if (result && result.data && result.data.error && result.data.error.message) return result.data.error.message;
    if (result && result.status) return fmt(_("The server answered with an unexpected error (HTTP %(status)s)."), { status: result.status });
    return _("No answer from the server.");
  }

  function errorCode(result) {
    return result && result.data && result.data.error ? result.data.error.code : null;
  }

  function isTransient(result) {
    return result === null || result.status >= 500 || errorCode(result) === "idempotency_in_progress";
  }

  function sessionEnded(result) {
    if (result && result.status === 401) {
      showError(_("Your session has ended. Sign in again."));
      setTimeout(function () {
        window.location.assign("/pos/login/?next=/pos/");
      }, 1500);
      return true;
    }
    return false;
  }

  // --- messages --------------------------------------------------------------------------

  function showError(text, canRetry) {
    $("status").hidden = true;
    $("error-text").textContent = text;
    $("retry-button").hidden = !canRetry;
    $("error").hidden = false;
  }

  function showStatus(text) {
    $("error").hidden = true;
    $("status").textContent = text;
    $("status").hidden = false;
  }

  function clearMessages() {
    $("error").hidden = true;
    $("status").hidden = true;
  }

  function setBusy(value) {
    busy = value;
    document.body.setAttribute("aria-busy", value ? "true" : "false");
    document.querySelectorAll(".actions button, #scan-button, #retry-button").forEach(function (button) {
      button.disabled = value;
    });
    if (!value) applyParticipation();
  }

  function focusScan() {
    var open = document.querySelector("dialog[open]");
    // On touch tablets focusing a field pops up the keyboard; a USB scanner is caught below anyway.
    if (!open && window.matchMedia("(pointer: fine)").matches) $("scan-input").focus({ preventScroll: true });
  }

  // --- store -----------------------------------------------------------------------------------

  var storeKey = "pos-store-" + staff.id;

  function setupStores() {
    var select = $("store-select");
    if (staff.stores.length === 1) {
      select.hidden = true;
      $("store-name").hidden = false;
      $("store-name").textContent = staff.stores[0].name;
      $("store-picker").querySelector("label").removeAttribute("for");
      return;
    }
    if (staff.stores.length === 0) {
      select.hidden = true;
      $("store-name").hidden = false;
      $("store-name").textContent = _("No store assigned");
      return;
    }
    select.appendChild(el("option", _("Choose your store\u2026"))).value = "";
    staff.stores.forEach(function (store) {
      var option = el("option", store.name);
      option.value = store.code;
      select.appendChild(option);
    });
    var saved = null;
    try {
      saved = window.localStorage.getItem(storeKey);
    } catch (e) {
      saved = null;
    }
    if (saved && staff.stores.some(function (s) { return s.code === saved; })) select.value = saved;
    select.addEventListener("change", function () {
      if (card) renderParticipation();
      try {
        window.localStorage.setItem(storeKey, select.value);
      } catch (e) {
        /* private mode: the choice lasts until reload */
      }
    });
  }

  function currentStore() {
    return staff.stores.length > 1 ? $("store-select").value : null;
  }

  // --- finding a card ----------------------------------------------------------------------------

  function lookup(q) {
    q = (q || "").trim();
    if (!q || busy) return;
    setBusy(true);
    clearMessages();
    $("matches").hidden = true;
    api("GET", "cards/lookup/?q=" + encodeURIComponent(q))
      .then(function (result) {
        if (sessionEnded(result)) return;
        if (result.ok) {
          $("scan-input").value = "";
          showCard(result.data);
        } else if (errorCode(result) === "multiple_matches") {
          showMatches(result.data.error.details.cards || []);
          showError(errorMessage(result));
        } else {
          showError(errorMessage(result));
        }
      })
      .catch(function () {
        showError(_("No answer from the server. Check the connection and scan again."));
      })
      .then(function () {
        setBusy(false);
        focusScan();
      });
  }

  function loadCard(cardNumber) {
    setBusy(true);
    api("GET", "cards/" + encodeURIComponent(cardNumber) + "/")
      .then(function (result) {
        if (sessionEnded(result)) return;
        if (result.ok) {
          clearMessages();
          showCard(result.data);
        } else showError(errorMessage(result));
      })
      .catch(function () {
        showError(_("No answer from the server. Check the connection and try again."));
      })
      .then(function () {
        setBusy(false);
      });
  }

  function showMatches(matches) {
    var list = $("match-list");
    list.replaceChildren();
    matches.forEach(function (match) {
      var button = el("button", match.name + " \u00b7 " + match.card_number, "big");
      button.type = "button";
      button.addEventListener("click", function () {
        $("matches").hidden = true;
        loadCard(match.card_number);
      });
      var item = el("li");
      item.appendChild(button);
      list.appendChild(item);
    });
    $("matches").hidden = matches.length === 0;
  }

  // --- showing a card --------------------------------------------------------------------------------

  function showCard(data) {
    card = data;
    $("matches").hidden = true;
    $("card-panel").hidden = false;
    $("customer-name").textContent = data.customer.name;
    $("birthday-badge").hidden = !data.customer.birthday_week;
    $("inactive-badge").hidden = data.is_active;
    $("card-number").textContent = data.card_number;
    $("tier-badge").hidden = !data.tier;
    $("tier-badge").textContent = data.tier ? data.tier.name + " \u00b7 points \u00d7" + Number(data.tier.points_multiplier) : "";
    renderStamps(data);
    renderPoints(data);
    renderTransactions(data.recent_transactions);
    document.querySelectorAll(".actions [data-needs]").forEach(function (button) {
      var needs = button.getAttribute("data-needs");
      button.hidden = needs === "stamps" ? !data.program.uses_stamps : !data.program.uses_points;
    });
    renderParticipation();
  }

  // A store that does not take part (renovation, a franchise that opted out): say so before the
  // cashier tries, and switch off what it refuses (the API would answer 409 store_not_participating).
  var EARNING = ["btn-stamp", "btn-earn"];
  var REDEEMING = ["btn-redeem-stamps", "btn-redeem"];

  function storeInfo() {
    if (staff.stores.length === 1) return staff.stores[0];
    var code = currentStore();
    return staff.stores.filter(function (s) { return s.code === code; })[0] || null;
  }

  function renderParticipation() {
    var store = storeInfo();
    var earns = !store || store.earns_loyalty !== false;
    var redeems = !store || store.redeems_loyalty !== false;
    EARNING.forEach(function (id) { $(id).classList.toggle("not-here", !earns); });
    REDEEMING.forEach(function (id) { $(id).classList.toggle("not-here", !redeems); });
    var notice = $("participation");
    var text = "";
    if (!earns && !redeems) text = fmt(_("%(store)s does not take part in the loyalty program: no stamps, points or rewards here."), { store: store.name });
    else if (!earns) text = fmt(_("%(store)s does not give stamps or points at the moment (rewards can still be redeemed)."), { store: store.name });
    else if (!redeems) text = fmt(_("%(store)s does not redeem rewards at the moment (stamps and points still work)."), { store: store.name });
    notice.textContent = text;
    notice.hidden = !text;
    applyParticipation();
  }

  function applyParticipation() {
    EARNING.concat(REDEEMING).forEach(function (id) {
      $(id).disabled = busy || $(id).classList.contains("not-here");
    });
  }

  function renderStamps(data) {
    var program = data.program;
    $("stamps-block").hidden = !program.uses_stamps;
    if (!program.uses_stamps) return;
    var target = program.stamps_target;
    var row = $("stamp-row");
    row.replaceChildren();
    row.setAttribute("aria-label", data.stamp_count + " of " + target + " stamps");
    var dots = Math.min(target, 20);
    var filled = Math.round((Math.min(data.stamp_count, target) / target) * dots);
    for (var i = 0; i < dots; i++) {
      var dot = el("li", null, i < filled ? "stamp filled" : "stamp");
      dot.setAttribute("aria-hidden", "true");
      row.appendChild(dot);
    }
    $("stamp-count-text").textContent = data.stamp_count + " / " + target;
    // The reward ladder: what the stamps buy now, and the next rung.
    var ladder = data.stamp_rewards || [];
    var ready = ladder.filter(function (rung) { return rung.available; });
    var next = ladder.filter(function (rung) { return !rung.available; })[0];
    var parts = [];
    if (ready.length) {
      parts.push(_("Reward available:") + " " + ready.map(function (rung) { return rung.name; }).join(", "));
    }
    if (next) parts.push(fmt(_("%(more)s until: %(reward)s"), { more: plural(next.stamps_cost - data.stamp_count, "more stamp"), reward: next.name }));
    $("stamp-hint").textContent = parts.join(" \u00b7 ");
    $("stamp-hint").className = ready.length ? "hint reward-ready" : "hint";
  }

  function renderPoints(data) {
    $("points-block").hidden = !data.program.uses_points;
    $("points-balance").textContent = data.points_balance;
    var list = $("rewards-list");
    list.replaceChildren();
    data.rewards_affordable.forEach(function (reward) {
      list.appendChild(el("li", reward.name + " \u2014 " + plural(reward.points_cost, "point")));
    });
    if (!data.rewards_affordable.length) list.appendChild(el("li", _("None yet"), "muted"));
  }

  function renderTransactions(rows) {
    var body = $("transactions-body");
    body.replaceChildren();
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("td", new Date(row.created_at).toLocaleString([], { dateStyle: "short", timeStyle: "short" })));
      var what = row.type_display;
      if (row.reward_name) what += ": " + row.reward_name;
      else if (row.order_reference) what += " (" + fmt(_("order %(order)s"), { order: row.order_reference }) + ")";
      else if (row.reason && row.type !== "stamp_redeem") what += " (" + row.reason + ")";
      tr.appendChild(el("td", what));
      tr.appendChild(el("td", signed(row.stamps_delta), "num"));
      tr.appendChild(el("td", signed(row.points_delta), "num"));
      tr.appendChild(el("td", row.store || ""));
      tr.appendChild(el("td", row.staff || ""));
      body.appendChild(tr);
    });
    if (!rows.length) {
      var empty = el("tr");
      var cell = el("td", _("No transactions yet."), "muted");
      cell.colSpan = 6;
      empty.appendChild(cell);
      body.appendChild(empty);
    }
  }

  // --- operations ------------------------------------------------------------------------------------

  function successText(action, data) {
    var c = data.card;
    var t = data.transaction;
    switch (action) {
      case "stamp":
        return fmt(t.promotion ? _("%(added)s (%(promotion)s): %(count)s of %(target)s.") : _("Stamp added: %(count)s of %(target)s."), {
          added: plural(t.stamps_delta, "stamp"),
          promotion: t.promotion ? t.promotion.name : "",
          count: c.stamp_count,
          target: c.program.stamps_target,
        }) + ((c.stamp_rewards || []).some(function (rung) { return rung.available; }) ? " " + _("Reward available!") : "");
      case "redeem-stamps":
        return fmt(_("Stamp reward redeemed: %(reward)s (%(stamps)s)."), {
          reward: t.reward_name || c.program.stamp_reward_description,
          stamps: plural(-t.stamps_delta, "stamp"),
        });
      case "earn-points":
        var why = [];
        if (t.promotion) why.push(t.promotion.name);
        if (t.points_multiplier && Number(t.points_multiplier) !== 1) {
          why.push(fmt(_("\u00d7%(multiplier)s on %(points)s"), { multiplier: Number(t.points_multiplier), points: plural(t.base_points, "point") }));
        }
        return fmt(_("%(points)s earned%(why)s. Balance: %(balance)s."), {
          points: plural(t.points_delta, "point"),
          why: why.length ? " (" + why.join(", ") + ")" : "",
          balance: plural(c.points_balance, "point"),
        });
      case "redeem-points":
        return fmt(t.reward_name ? _("%(reward)s redeemed: %(points)s. Balance: %(balance)s.") : _("Points redeemed: %(points)s. Balance: %(balance)s."), {
          reward: t.reward_name,
          points: plural(-t.points_delta, "point"),
          balance: plural(c.points_balance, "point"),
        });
      case "void-points":
        return fmt(_("%(points)s voided. Balance: %(balance)s."), { points: plural(-t.points_delta, "point"), balance: plural(c.points_balance, "point") });
      case "void-stamp":
        return fmt(_("Undone: %(stamps)s on the card now."), { stamps: plural(c.stamp_count, "stamp") });
      default:
        return fmt(_("Balance adjusted: %(points)s, %(stamps)s."), { points: plural(c.points_balance, "point"), stamps: plural(c.stamp_count, "stamp") });
    }
  }

  function send(op) {
    // The same key and body on every attempt: the server applies it once.
    var attempt = 0;
    function tryOnce() {
      return api("POST", op.path, op.body, op.key)
        .catch(function () {
          return null;
        })
        .then(function (result) {
          if (isTransient(result) && attempt < AUTO_RETRIES) {
            attempt += 1;
            return sleep(400 * attempt).then(tryOnce);
          }
          return result;
        });
    }
    return tryOnce();
  }

  async function runOperation(op) {
    var pinMessage = "";
    for (;;) {
      if (op.needsPin && !("staff_pin" in op.body)) {
        var pin = await askPin(pinMessage);
        if (pin === null) {
          showStatus(_("Cancelled; nothing was changed."));
          return;
        }
        op.body.staff_pin = pin;
      }
      var result = await send(op);
      if (result === null && QUEUEABLE[op.action]) {
        // No answer at all: the network is down. Keep it for later, with its key (applied once).
        await enqueue(op);
        return;
      }
      if (isTransient(result)) {
        pending = op;
        showError(
          (result && result.data && result.data.error ? errorMessage(result) : _("No answer from the server.")) + " " +
            _("Tap Retry to send the same operation again (it will not be applied twice)."),
          true
        );
        return;
      }
      pending = null;
      if (sessionEnded(result)) return;
      if (result.ok) {
        showCard(result.data.card);
        showStatus(successText(op.action, result.data));
        return;
      }
      var code = errorCode(result);
      if (code === "approval_required" || (op.body.approver && (code === "invalid_pin" || code === "invalid_pin_format"))) {
        // A manager approves on this screen; the retry keeps the same Idempotency-Key.
        var approval = await askApproval(errorMessage(result), op.body.approver || "");
        if (approval === null) {
          showStatus(_("Cancelled; nothing was changed."));
          return;
        }
        op.body.approver = approval.approver;
        op.body.approver_pin = approval.pin;
        continue;
      }
      if (code === "invalid_pin" || code === "pin_required" || code === "invalid_pin_format") {
        delete op.body.staff_pin;
        pinMessage = errorMessage(result);
        continue;
      }
      showError(errorMessage(result));
      return;
    }
  }

  function refusedBeforePin(action, body) {
    // What the card on screen says it cannot take: said at once, before any PIN is asked.
    // The server still decides; this only spares the cashier a PIN for a known refusal.
    var program = card.program;
    if (action === "stamp" && program.stamp_cooldown_minutes && card.last_stamp_at) {
      var wait = Date.parse(card.last_stamp_at) + program.stamp_cooldown_minutes * 60000 - Date.now();
      if (wait > 0) {
        var minutes = Math.ceil(wait / 60000);
        return fmt(_("This card was stamped moments ago; the next stamp is possible in %(wait)s."), { wait: plural(minutes, "minute") });
      }
    }
    if (action === "redeem-points" && body.points && card.points_balance < body.points) {
      return fmt(_("The card has %(balance)s points; this needs %(points)s."), { balance: card.points_balance, points: body.points });
    }
    if (action === "redeem-stamps") {
      var ladder = card.stamp_rewards || [];
      var wanted = body.reward_id === undefined ? null : body.reward_id;
      var rung = ladder.filter(function (r) { return r.id === wanted; })[0];
      var cost = rung ? rung.stamps_cost : program.stamps_target;
      var name = rung ? rung.name : program.stamp_reward_description;
      if (card.stamp_count < cost) {
        return fmt(_("The card has %(count)s of the %(cost)s stamps %(name)s needs."), { count: card.stamp_count, cost: cost, name: name });
      }
    }
    return null;
  }

  function operate(action, body) {
    if (!card || busy) return;
    if (!navigator.onLine && !QUEUEABLE[action]) {
      clearMessages();
      showError(fmt(_("No network: %(operation)s needs the network. Stamps and earns are kept and sent when it returns."), { operation: _(ACTION_NAMES[action]) }));
      return;
    }
    var refusal = refusedBeforePin(action, body);
    if (refusal) {
      clearMessages();
      showError(refusal);
      return;
    }
    var stores = staff.stores.length;
    if (stores > 1) {
      if (!currentStore()) {
        showError(_("Choose the store you are working at first."));
        $("store-select").focus();
        return;
      }
      body.store = currentStore();
    }
    var op = {
      action: action,
      path: "cards/" + encodeURIComponent(card.card_number) + "/" + action + "/",
      body: body,
      key: newKey(), // one key per button press; a retry reuses it
      needsPin: card.program.require_staff_pin,
      cardNumber: card.card_number,
      customer: card.customer ? card.customer.name || "" : "",
    };
    if (!navigator.onLine) {
      clearMessages();
      // Offline: no PIN is asked (it cannot be checked now); the replay asks for it if the program needs it.
      return enqueue(op).then(focusScan);
    }
    setBusy(true);
    clearMessages();
    return runOperation(op).then(
      function () {
        setBusy(false);
        focusScan();
      },
      function () {
        setBusy(false);
        showError(_("Something went wrong on this page. Reload it and try again."));
      }
    );
  }

  function retryPending() {
    if (!pending || busy) return;
    var op = pending;
    setBusy(true);
    clearMessages();
    runOperation(op).then(function () {
      setBusy(false);
      focusScan();
    });
  }

  // --- offline: stamps and earns wait in IndexedDB ---------------------------------------------------

  var QUEUEABLE = { stamp: true, "earn-points": true };
  var ACTION_NAMES = {
    stamp: "a stamp",
    "earn-points": "earning points",
    "redeem-points": "redeeming a reward",
    "redeem-stamps": "redeeming a stamp reward",
    "void-points": "voiding points",
    "void-stamp": "voiding a stamp",
    adjust: "an adjustment",
  };
  var QUEUE_LIMIT = 50;
  var replaying = false;
  var replayPin = null; // the PIN typed once during a replay, kept in memory only
  var dbPromise = null;

  function openQueue() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var request = indexedDB.open("pos-offline", 1);
        request.onupgradeneeded = function () {
          request.result.createObjectStore("queue", { keyPath: "id", autoIncrement: true });
        };
        request.onsuccess = function () {
          resolve(request.result);
        };
        request.onerror = function () {
          reject(request.error);
        };
      });
    }
    return dbPromise;
  }

  function queueRequest(mode, work) {
    return openQueue().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction("queue", mode);
        var request = work(tx.objectStore("queue"));
        tx.oncomplete = function () {
          resolve(request ? request.result : undefined);
        };
        tx.onerror = function () {
          reject(tx.error);
        };
      });
    });
  }

  function queuedOperations() {
    // Keys are increasing numbers: getAll answers in the order the operations were taken.
    return queueRequest("readonly", function (store) {
      return store.getAll();
    });
  }

  function showPending(count) {
    var badge = $("offline-pending");
    badge.textContent = fmt(_("%(count)s waiting"), { count: count });
    badge.hidden = count === 0;
  }

  function refreshPending() {
    return queuedOperations().then(function (ops) {
      showPending(ops.length);
      return ops;
    });
  }

  async function enqueue(op) {
    var ops = await queuedOperations();
    if (ops.length >= QUEUE_LIMIT) {
      showError(
        fmt(_("%(limit)s operations are already waiting for the network: this one was not kept. Wait for the connection to return."), {
          limit: QUEUE_LIMIT,
        })
      );
      return;
    }
    var body = Object.assign({}, op.body);
    delete body.staff_pin; // never stored
    await queueRequest("readwrite", function (store) {
      return store.add({
        action: op.action,
        path: op.path,
        body: body,
        key: op.key,
        cardNumber: op.cardNumber,
        customer: op.customer,
        queuedAt: new Date().toISOString(),
      });
    });
    var count = (await refreshPending()).length;
    showStatus(
      fmt(_("No network: %(operation)s for %(customer)s is kept and will be sent when the connection returns (%(count)s waiting)."), {
        operation: _(ACTION_NAMES[op.action]),
        customer: op.customer || op.cardNumber,
        count: count,
      })
    );
  }

  function logOutcome(text, refused) {
    var log = $("offline-log");
    var item = el("li", text, refused ? "refused" : "done");
    log.appendChild(item);
    $("offline-outcomes").hidden = false;
  }

  async function replayQueue() {
    if (replaying || busy || !navigator.onLine) return;
    replaying = true;
    try {
      var ops = await refreshPending();
      for (var i = 0; i < ops.length; i++) {
        var op = ops[i];
        var body = Object.assign({}, op.body);
        if (replayPin) body.staff_pin = replayPin;
        var result = await api("POST", op.path, body, op.key).catch(function () {
          return null;
        });
        if (isTransient(result) || (result && result.status === 401)) return; // still down: later
        var code = errorCode(result);
        if (code === "pin_required" || code === "invalid_pin" || code === "invalid_pin_format") {
          if (document.querySelector("dialog[open]")) return;
          replayPin = await askPin((code === "pin_required" ? "" : errorMessage(result) + " ") +
            _("The waiting operations need your PIN."));
          if (replayPin === null) return;
          i -= 1; // the same operation again, with the PIN
          continue;
        }
        await queueRequest("readwrite", function (store) {
          return store.delete(op.id);
        });
        var who = (op.customer || op.cardNumber) + ": ";
        if (result.ok) {
          logOutcome(who + successText(op.action, result.data), false);
          if (card && result.data.card.card_number === card.card_number) showCard(result.data.card);
        } else {
          logOutcome(who + _("refused:") + " " + errorMessage(result), true);
        }
        await refreshPending();
      }
      replayPin = null;
    } finally {
      replaying = false;
    }
  }

  function setupOffline() {
    if (!window.indexedDB) return;
    refreshPending().then(replayQueue);
    window.addEventListener("online", replayQueue);
    setInterval(replayQueue, 5000);
  }

  // --- dialogs -----------------------------------------------------------------------------------------

  function openDialog(dialog) {
    dialog.querySelectorAll(".field-error").forEach(function (p) {
      p.textContent = "";
    });
    dialog.showModal();
  }

  function closeDialog(dialog) {
    if (dialog.open) dialog.close();
  }

  function askPin(message) {
    return new Promise(function (resolve) {
      var dialog = $("pin-dialog");
      var input = $("pin-input");
      input.value = "";
      openDialog(dialog);
      $("pin-error").textContent = message || "";
      input.focus();
      function finish(value) {
        dialog.removeEventListener("close", onClose);
        $("pin-form").removeEventListener("submit", onSubmit);
        closeDialog(dialog);
        resolve(value);
      }
      function onSubmit(event) {
        event.preventDefault();
        if (!/^\d{4,6}$/.test(input.value)) {
          $("pin-error").textContent = _("A PIN is 4 to 6 digits.");
          input.focus();
          return;
        }
        finish(input.value);
      }
      function onClose() {
        finish(null);
      }
      dialog.addEventListener("close", onClose);
      $("pin-form").addEventListener("submit", onSubmit);
    });
  }

  function askApproval(message, approver) {
    return new Promise(function (resolve) {
      var dialog = $("approval-dialog");
      var name = $("approver-input");
      var pin = $("approver-pin-input");
      name.value = approver;
      pin.value = "";
      openDialog(dialog);
      $("approval-error").textContent = message || "";
      (approver ? pin : name).focus();
      function finish(value) {
        dialog.removeEventListener("close", onClose);
        $("approval-form").removeEventListener("submit", onSubmit);
        closeDialog(dialog);
        resolve(value);
      }
      function onSubmit(event) {
        event.preventDefault();
        if (!name.value.trim()) {
          $("approval-error").textContent = _("Type the manager's username.");
          name.focus();
          return;
        }
        if (!/^\d{4,6}$/.test(pin.value)) {
          $("approval-error").textContent = _("A PIN is 4 to 6 digits.");
          pin.focus();
          return;
        }
        finish({ approver: name.value.trim(), pin: pin.value });
      }
      function onClose() {
        finish(null);
      }
      dialog.addEventListener("close", onClose);
      $("approval-form").addEventListener("submit", onSubmit);
    });
  }

  function setupKeypads() {
    document.querySelectorAll(".keypad").forEach(function (pad) {
      var input = $(pad.getAttribute("data-target"));
      pad.addEventListener("click", function (event) {
        var button = event.target.closest("button");
        if (!button) return;
        var key = button.getAttribute("data-key");
        if (key === "back") input.value = input.value.slice(0, -1);
        else if (key === "clear") input.value = "";
        else if (input.value.length < (input.maxLength > 0 ? input.maxLength : 12)) input.value += button.textContent;
        input.dispatchEvent(new Event("input"));
      });
    });
    document.querySelectorAll("dialog [data-close]").forEach(function (button) {
      button.addEventListener("click", function () {
        closeDialog(button.closest("dialog"));
      });
    });
    document.querySelectorAll("dialog").forEach(function (dialog) {
      dialog.addEventListener("close", focusScan);
    });
  }

  function wholeNumber(text, allowNegative) {
    var pattern = allowNegative ? /^[+-]?\d+$/ : /^\d+$/;
    text = (text || "").trim().replace("\u2212", "-");
    return pattern.test(text) ? parseInt(text, 10) : null;
  }

  function setupEarn() {
    var amount = $("earn-amount");
    $("btn-earn").addEventListener("click", function () {
      if (!card || busy) return;
      amount.value = "";
      $("earn-reference").value = "";
      $("earn-preview").textContent = "";
      openDialog($("earn-dialog"));
      amount.focus();
    });
    amount.addEventListener("input", function () {
      var value = amount.value.replace(",", ".");
      var points = /^\d+(\.\d{1,2})?$/.test(value) && card
        ? Math.floor(parseFloat(value) * parseFloat(card.program.points_per_euro) + 1e-9)
        : null;
      $("earn-preview").textContent = points === null ? "" : "= " + plural(points, "point");
    });
    $("earn-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var value = amount.value.trim().replace(",", ".");
      if (!/^\d+(\.\d{1,2})?$/.test(value) || parseFloat(value) <= 0) {
        $("earn-error").textContent = _("Type the purchase amount, like 12.50.");
        amount.focus();
        return;
      }
      closeDialog($("earn-dialog"));
      operate("earn-points", { purchase_amount: value, order_reference: $("earn-reference").value.trim() });
    });
  }

  function setupRedeem() {
    $("btn-redeem").addEventListener("click", function () {
      if (!card || busy) return;
      var list = $("redeem-rewards");
      list.replaceChildren();
      card.rewards_affordable.forEach(function (reward) {
        var button = el("button", reward.name + " \u2014 " + plural(reward.points_cost, "point"), "big choice");
        button.type = "button";
        button.addEventListener("click", function () {
          closeDialog($("redeem-dialog"));
          operate("redeem-points", { reward_id: reward.id });
        });
        var item = el("li");
        item.appendChild(button);
        list.appendChild(item);
      });
      $("redeem-none").hidden = card.rewards_affordable.length > 0;
      $("redeem-points").value = "";
      openDialog($("redeem-dialog"));
    });
    $("redeem-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var points = wholeNumber($("redeem-points").value, false);
      if (!points) {
        $("redeem-error").textContent = _("Pick a reward, or type a whole number of points.");
        return;
      }
      closeDialog($("redeem-dialog"));
      operate("redeem-points", { points: points });
    });
  }

  function setupStampRewards() {
    $("btn-redeem-stamps").addEventListener("click", function () {
      if (!card || busy) return;
      var ladder = card.stamp_rewards || [];
      // Only the program's own reward: redeem it at once, as before the ladder.
      if (ladder.length <= 1) {
        operate("redeem-stamps", {});
        return;
      }
      var list = $("stamp-rewards");
      list.replaceChildren();
      ladder.forEach(function (rung) {
        var label = rung.name + " \u2014 " + plural(rung.stamps_cost, "stamp") +
          (rung.available ? "" : " (" + fmt(_("%(more)s needed"), { more: plural(rung.stamps_cost - card.stamp_count, "more stamp") }) + ")");
        var button = el("button", label, "big choice");
        button.type = "button";
        button.disabled = !rung.available;
        button.addEventListener("click", function () {
          closeDialog($("stamp-rewards-dialog"));
          operate("redeem-stamps", rung.id === null ? {} : { reward_id: rung.id });
        });
        var item = el("li");
        item.appendChild(button);
        list.appendChild(item);
      });
      openDialog($("stamp-rewards-dialog"));
    });
  }

  // Undo a stamp or a stamp-reward redemption given by mistake: today's only (the server checks too).
  function setupVoidStamp() {
    $("btn-void-stamp").addEventListener("click", function () {
      if (!card || busy) return;
      var list = $("void-stamp-rows");
      list.replaceChildren();
      var today = new Date().toDateString();
      var undone = {};
      card.recent_transactions.forEach(function (row) {
        if (row.type === "stamp_void" && row.related_transaction_id) undone[row.related_transaction_id] = true;
      });
      var rows = card.recent_transactions.filter(function (row) {
        return (row.type === "stamp" || row.type === "stamp_redeem") && !undone[row.id] &&
          new Date(row.created_at).toDateString() === today;
      });
      rows.forEach(function (row) {
        var when = new Date(row.created_at).toLocaleTimeString([], { timeStyle: "short" });
        var what = row.type === "stamp" ? plural(row.stamps_delta, "stamp") : _("Stamp reward");
        var button = el("button", when + " \u00b7 " + what, "big choice");
        button.type = "button";
        button.addEventListener("click", function () {
          closeDialog($("void-stamp-dialog"));
          operate("void-stamp", { transaction_id: row.id });
        });
        var item = el("li");
        item.appendChild(button);
        list.appendChild(item);
      });
      $("void-stamp-none").hidden = rows.length > 0;
      openDialog($("void-stamp-dialog"));
    });
  }

  function setupVoid() {
    $("btn-void").addEventListener("click", function () {
      if (!card || busy) return;
      var list = $("void-earns");
      list.replaceChildren();
      var earns = card.recent_transactions.filter(function (row) {
        return row.type === "points_earn" && row.points_voidable > 0;
      });
      earns.forEach(function (row) {
        var when = new Date(row.created_at).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
        var label = when + " \u00b7 " + (row.order_reference ? fmt(_("order %(order)s"), { order: row.order_reference }) + " \u00b7 " : "") +
          (row.purchase_amount ? "\u20ac" + row.purchase_amount + " \u00b7 " : "") + plural(row.points_voidable, "point");
        var button = el("button", label, "big choice");
        button.type = "button";
        button.addEventListener("click", function () {
          closeDialog($("void-dialog"));
          operate("void-points", { transaction_id: row.id });
        });
        var item = el("li");
        item.appendChild(button);
        list.appendChild(item);
      });
      $("void-none").hidden = earns.length > 0;
      $("void-points").value = "";
      $("void-reason").value = "";
      openDialog($("void-dialog"));
    });
    $("void-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var points = wholeNumber($("void-points").value, false);
      var reason = $("void-reason").value.trim();
      if (!points || !reason) {
        $("void-error").textContent = _("Choose a purchase above, or type a whole number of points and a reason.");
        return;
      }
      closeDialog($("void-dialog"));
      operate("void-points", { points: points, reason: reason });
    });
  }

  function setupAdjust() {
    if (!$("btn-adjust")) return;
    $("btn-adjust").addEventListener("click", function () {
      if (!card || busy) return;
      ["adjust-points", "adjust-stamps", "adjust-reason"].forEach(function (id) {
        $(id).value = "";
      });
      openDialog($("adjust-dialog"));
      $("adjust-points").focus();
    });
    $("adjust-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var pointsText = $("adjust-points").value.trim();
      var stampsText = $("adjust-stamps").value.trim();
      var points = pointsText ? wholeNumber(pointsText, true) : 0;
      var stamps = stampsText ? wholeNumber(stampsText, true) : 0;
      var reason = $("adjust-reason").value.trim();
      if (points === null || stamps === null) {
        $("adjust-error").textContent = _("Points and stamps are whole numbers, like 10 or -5.");
        return;
      }
      if (!points && !stamps) {
        $("adjust-error").textContent = _("Change the points, the stamps or both.");
        return;
      }
      if (!reason) {
        $("adjust-error").textContent = _("Say why (the reason is kept in the ledger).");
        $("adjust-reason").focus();
        return;
      }
      closeDialog($("adjust-dialog"));
      operate("adjust", { points_delta: points, stamps_delta: stamps, reason: reason });
    });
  }

  // --- camera: the browser's own QR reader where it has one (Chrome on Android), jsQR elsewhere -----

  var jsQrLoading = null;

  function loadJsQr(url) {
    // jsQR (vendored, 250 kB) is fetched only the first time the camera opens without BarcodeDetector.
    if (!jsQrLoading) {
      jsQrLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = url;
        script.onload = function () { resolve(window.jsQR); };
        script.onerror = function () { jsQrLoading = null; reject(new Error("jsQR did not load")); };
        document.head.appendChild(script);
      });
    }
    return jsQrLoading;
  }

  // Resolves to read(video) -> Promise of the QR text in the current frame, or null.
  function qrReader(jsQrUrl) {
    if ("BarcodeDetector" in window) {
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      return Promise.resolve(function (video) {
        return detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
      });
    }
    return loadJsQr(jsQrUrl).then(function (jsQR) {
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", { willReadFrequently: true });
      return function (video) {
        // A frame of at most 640 px wide is plenty for a QR held up to a tablet, and four times cheaper.
        var scale = Math.min(1, 640 / (video.videoWidth || 640));
        var width = Math.round(video.videoWidth * scale);
        var height = Math.round(video.videoHeight * scale);
        if (!width || !height) return Promise.resolve(null);
        canvas.width = width;
        canvas.height = height;
        context.drawImage(video, 0, 0, width, height);
        var code = jsQR(context.getImageData(0, 0, width, height).data, width, height, {
          inversionAttempts: "dontInvert",
        });
        return Promise.resolve(code && code.data ? code.data : null);
      };
    });
  }

  function setupCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;  // no camera API (http, old browser)
    var button = $("camera-button");
    var dialog = $("camera-dialog");
    var video = $("camera-video");
    var stream = null;
    var timer = null;
    button.hidden = false;
    function stop() {
      if (timer) clearInterval(timer);
      timer = null;
      if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
    dialog.addEventListener("close", stop);
    var starting = false;
    button.addEventListener("click", function () {
      // A second tap while the reader loads or the camera starts would open a second camera.
      if (starting || stream) return;
      starting = true;
      var read = null;
      var busy = false;
      qrReader(dialog.dataset.jsqrUrl)
        .then(function (reader) {
          read = reader;
          return navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
        })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          openDialog(dialog);
          return video.play();
        })
        .then(function () {
          starting = false;
          timer = setInterval(function () {
            if (busy || !stream) return;
            busy = true;
            read(video)
              .then(function (text) {
                if (text && stream) {
                  closeDialog(dialog);
                  lookup(text);
                }
              })
              .catch(function () { /* next frame */ })
              .then(function () { busy = false; });
          }, 250);
        })
        .catch(function () {
          starting = false;
          stop();
          closeDialog(dialog);
          showError(_("The camera is not available. Use the scanner or type the card number."));
        });
    });
  }

  // --- wiring ----------------------------------------------------------------------------------------

  function setup() {
    setupStores();
    setupKeypads();
    setupEarn();
    setupRedeem();
    setupStampRewards();
    setupVoid();
    setupVoidStamp();
    setupAdjust();
    setupCamera();
    setupOffline();
    $("scan-form").addEventListener("submit", function (event) {
      event.preventDefault();
      lookup($("scan-input").value);
    });
    $("btn-stamp").addEventListener("click", function () {
      operate("stamp", {});
    });
    $("retry-button").addEventListener("click", retryPending);
    // A USB scanner types wherever the focus is: send stray keystrokes to the scan field.
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      if (document.querySelector("dialog[open]") || event.ctrlKey || event.metaKey || event.altKey) return;
      if (target.closest && target.closest("input, select, textarea")) return;
      if (event.key && event.key.length === 1) {
        var scan = $("scan-input");
        scan.focus({ preventScroll: true });
        scan.value += event.key;
        event.preventDefault();
      }
    });
    $("scan-input").focus();
  }

  setup();
})();
