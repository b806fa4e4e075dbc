// The join page's birth date: says back in words what was typed ("4 juillet 1990"), or why it is
// not a date, and keeps the form from being sent with a date the server would refuse.
// It reads dates exactly as customers/birth_dates.py does (keep the two in step): day first
// (dd/mm/yyyy, also . or -, or the eight digits ddmmyyyy) or year first (yyyy-mm-dd).
// It never changes what was typed, except to add the "/" after the day and the month when the
// person types digits only (a phone's number pad has no "/"). Words and messages come from the
// server in the page's language, in the input's data-* attributes.
(function () {
  "use strict";

  const SEP = "\\s*[/.\\-]\\s*";
  const DAY_FIRST = new RegExp("^([0-9]{1,2})" + SEP + "([0-9]{1,2})" + SEP + "([0-9]{4})$");
  const DAY_FIRST_DIGITS = /^([0-9]{2})([0-9]{2})([0-9]{4})$/;
  const YEAR_FIRST = new RegExp("^([0-9]{4})" + SEP + "([0-9]{1,2})" + SEP + "([0-9]{1,2})$");
  const SHORT_YEAR = new RegExp("^[0-9]{1,2}" + SEP + "[0-9]{1,2}" + SEP + "[0-9]{2}$");

  function fill(template, params) {
    return template.replace(/%\((\w+)\)[sd]/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole;
    });
  }

  function pad(number, width) {
    return String(number).padStart(width, "0");
  }

  function daysInMonth(year, month) {
    // Day 0 of the next month is the last day of this one (UTC: no time zone shifts).
    return new Date(Date.UTC(year, month, 0)).getUTCDate();
  }

  // {complete: false} while the text is not yet a whole date; otherwise {error, params} or {iso, words}.
  function read(input, text) {
    const data = input.dataset;
    const months = data.months.split("|");
    let match = DAY_FIRST.exec(text) || DAY_FIRST_DIGITS.exec(text);
    let year, month, day;
    if (match) {
      day = Number(match[1]);
      month = Number(match[2]);
      year = Number(match[3]);
    } else if ((match = YEAR_FIRST.exec(text))) {
      year = Number(match[1]);
      month = Number(match[2]);
      day = Number(match[3]);
    } else if (SHORT_YEAR.test(text)) {
      return { complete: false, error: data.msgShortYear };
    } else {
      return { complete: false, error: fill(data.msgInvalid, { format: data.format }) };
    }
    if (month < 1 || month > 12) {
      return { complete: true, error: fill(data.msgNoSuchMonth, { date: text, month: month }) };
    }
    if (year < 1) {
      return { complete: true, error: fill(data.msgTooOld, { max: data.maxAge }) };
    }
    const days = daysInMonth(year, month);
    if (day < 1 || day > days) {
      return {
        complete: true,
        error: fill(data.msgNoSuchDay, { date: text, month: months[month - 1], year: year, days: days }),
      };
    }
    const iso = pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2);
    if (data.max && iso > data.max) {
      return { complete: true, error: data.msgFuture };
    }
    if (data.min && iso < data.min) {
      return { complete: true, error: fill(data.msgTooOld, { max: data.maxAge }) };
    }
    const words = fill(day === 1 ? data.wordsFirst : data.words, { day: day, month: months[month - 1], year: year });
    return { complete: true, iso: iso, words: words };
  }

  // Digits only at the end of the field: add the "/" after the day and after the month, and drop
  // a separator typed right after one that was added ("04" "/" gives "04/", not "04//").
  function addSlashes(input, event) {
    if (event.inputType !== "insertText" || input.selectionStart !== input.value.length) {
      return;
    }
    const value = input.value;
    if (/\/[/.\-]$/.test(value)) {
      input.value = value.slice(0, -1);
    } else if (/^[0-9]{2}$/.test(value) || /^[0-9]{1,2}\/[0-9]{2}$/.test(value)) {
      input.value = value + "/";
    }
  }

  function check(input, echo, showIncomplete) {
    const text = input.value.trim();
    let verdict = text ? read(input, text) : null;
    input.setCustomValidity(verdict && verdict.error ? verdict.error : "");
    if (verdict && !verdict.complete && !showIncomplete) {
      verdict = null; // still typing: say nothing yet
    }
    echo.classList.toggle("error", Boolean(verdict && verdict.error));
    echo.classList.toggle("ok", Boolean(verdict && !verdict.error));
    echo.textContent = verdict ? verdict.error || verdict.words : "";
    if (verdict && !verdict.error) {
      echo.dataset.iso = verdict.iso;
    } else {
      delete echo.dataset.iso;
    }
  }

  function setUp(input) {
    const echo = document.getElementById(input.id + "_echo");
    if (!echo) {
      return;
    }
    input.addEventListener("input", function (event) {
      addSlashes(input, event);
      check(input, echo, false);
    });
    input.addEventListener("change", function () {
      check(input, echo, true);
    });
    input.addEventListener("invalid", function () {
      check(input, echo, true);
    });
    // A page shown again with what was typed (the back button, or the server's message beside
    // the field: then the words line stays empty rather than say it twice).
    check(input, echo, false);
    if (input.getAttribute("aria-invalid") === "true" && echo.classList.contains("error")) {
      echo.textContent = "";
      echo.classList.remove("error");
    }
  }

  document.querySelectorAll("input[data-birth-date]").forEach(setUp);
})();
