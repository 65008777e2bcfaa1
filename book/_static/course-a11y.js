// What the widget manager (@jupyter-widgets/html-manager 1.0.15, ipywidgets 8) leaves out for
// screen-reader and keyboard users, added to each widget once it is drawn (and one fix for
// formulas, last):
//
// - a slider's handle (role="slider") has no accessible name: it is given its visible
//   description (aria-labelledby the widget's label);
// - noUiSlider announces the option *index* ("slider, 4") while the readout shows the option's
//   label ("1"): aria-valuetext is kept equal to the readout;
// - the Play widget's three buttons hold only an icon: they get names (and tooltips): Play or
//   Pause (the first button switches), Stop, and Repeat, a toggle that says whether it is on
//   (aria-pressed);
// - a frame stack of coursekit.widgets.frames shows a new caption when the slider moves, which a
//   screen reader does not notice: a polite live region next to it repeats the new caption.
//
// - a chapter's first slider sits behind every copy button, dropdown and citation before it
//   (up to 40 Tab presses): a skip link after the chapter's heading, shown when focused, leads
//   to the first interactive figure (its Play buttons, then its slider);
//
// - a displayed formula wider than the column scrolls sideways; the formulas are out of the Tab
//   order (MathJax inTabOrder: false), so such a formula is made focusable again, and only it,
//   or a keyboard could not scroll it.
//
// The widget fixes belong in ipywidgets itself (see README, "Accessibility"). Checked by
// tests/book/test_site_a11y.py in Chromium.
(function () {
  "use strict";
  var uid = 0;

  function nameSlider(slider) {
    var handle = slider.querySelector(".noUi-handle");
    var readout = slider.querySelector(".widget-readout");
    var label = slider.querySelector(".widget-label");
    if (!handle || handle.dataset.courseA11y) return;
    handle.dataset.courseA11y = "1";
    if (label && label.textContent.trim()) {
      if (!label.id) label.id = "course-widget-label-" + ++uid;
      handle.setAttribute("aria-labelledby", label.id);
    }
    if (!readout) return;
    // noUiSlider rewrites aria-valuetext on every move; the readout changes on every move too.
    var sync = function () {
      var text = readout.textContent.trim();
      if (text && handle.getAttribute("aria-valuetext") !== text) {
        handle.setAttribute("aria-valuetext", text);
      }
    };
    new MutationObserver(sync).observe(handle, {
      attributes: true,
      attributeFilter: ["aria-valuetext"],
    });
    new MutationObserver(sync).observe(readout, {
      childList: true,
      characterData: true,
      subtree: true,
    });
    sync();
  }

  function namePlayButtons(play) {
    if (play.dataset.courseA11y) return;
    play.dataset.courseA11y = "1";
    // ipywidgets 8's Play view draws three buttons: play/pause (one button whose icon switches),
    // stop, and repeat (a toggle, hidden when show_repeat is false).
    var buttons = play.querySelectorAll(":scope > button");
    var toggle = buttons[0], stop = buttons[1], repeat = buttons[2];
    var name = function (button, text) {
      if (button && button.getAttribute("aria-label") !== text) {
        button.setAttribute("aria-label", text);
        button.title = text;
      }
    };
    name(stop, "Stop");
    name(repeat, "Repeat");
    var update = function () {
      // The icon is an <i class="fa fa-play"> (or fa-pause) drawn by the Font Awesome web font.
      if (toggle) name(toggle, toggle.querySelector(".fa-pause") ? "Pause" : "Play");
      if (repeat) {
        var on = repeat.classList.contains("mod-active") ? "true" : "false";
        if (repeat.getAttribute("aria-pressed") !== on) repeat.setAttribute("aria-pressed", on);
      }
    };
    buttons.forEach(function (button) {
      new MutationObserver(update).observe(button, {
        attributes: true,
        attributeFilter: ["class"],
        childList: true,
        subtree: true,
      });
    });
    update();
  }

  function shownCaption(stack) {
    var caption = stack.querySelector(".frame-caption");
    if (caption) return caption.textContent.trim();
    var image = stack.querySelector("img[alt]");
    return image ? image.getAttribute("alt").trim() : "";
  }

  function announceFrames(stack) {
    if (stack.dataset.courseA11y) return;
    stack.dataset.courseA11y = "1";
    var region = document.createElement("div");
    region.className = "frame-announcer";
    region.setAttribute("role", "status"); // implies aria-live="polite", aria-atomic="true"
    region.setAttribute("aria-live", "polite");
    stack.parentNode.insertBefore(region, stack.nextSibling);
    // Silent on page load (the caption is on the page already); speaks when the frame changes.
    var last = shownCaption(stack);
    new MutationObserver(function () {
      var text = shownCaption(stack);
      if (text && text !== last) {
        last = text;
        region.textContent = text;
      }
    }).observe(stack, { childList: true, subtree: true });
  }

  function focusWideFormulas() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (math) {
      var wide = math.scrollWidth > math.clientWidth + 1;
      if (wide && !math.hasAttribute("tabindex")) {
        math.setAttribute("tabindex", "0");
        math.dataset.courseScrollable = "1";
      } else if (!wide && math.dataset.courseScrollable) {
        math.removeAttribute("tabindex");
        delete math.dataset.courseScrollable;
      }
    });
  }

  function addSkipLink() {
    if (document.getElementById("course-skip-to-widget")) return;
    var slider = document.querySelector("article .widget-slider");
    var heading = document.querySelector("article h1");
    if (!slider || !heading) return;
    var figure = slider.closest(".cell_output") || slider.closest(".output") || slider;
    if (!figure.id) figure.id = "course-first-widget";
    figure.setAttribute("tabindex", "-1"); // a link's target: focusable by the link only
    var link = document.createElement("a");
    link.id = "course-skip-to-widget";
    link.className = "course-skip-link";
    link.href = "#" + figure.id;
    link.textContent = "Skip to the first interactive figure";
    link.addEventListener("click", function (event) {
      event.preventDefault();
      figure.focus({ preventScroll: true });
      figure.scrollIntoView({ block: "start" });
    });
    heading.insertAdjacentElement("afterend", link);
  }

  function scan() {
    addSkipLink();
    document.querySelectorAll(".widget-slider").forEach(nameSlider);
    document.querySelectorAll(".widget-play").forEach(namePlayButtons);
    document.querySelectorAll(".frame-stack").forEach(announceFrames);
  }

  // Widgets are drawn by embed.js after the page has loaded; catch them as they appear.
  var pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    window.setTimeout(function () {
      pending = false;
      scan();
    }, 0);
  }
  function start() {
    new MutationObserver(schedule).observe(document.body, { childList: true, subtree: true });
    scan();
    // MathJax typesets after the page has loaded; its startup promise settles when it is done.
    window.addEventListener("load", function () {
      var mathjax = window.MathJax;
      if (mathjax && mathjax.startup && mathjax.startup.promise) {
        mathjax.startup.promise.then(focusWideFormulas);
      } else {
        focusWideFormulas();
      }
    });
    window.addEventListener("resize", focusWideFormulas);
    // MathJax typesets a slice at a time (mathjax-in-slices.js), often past the load event.
    document.addEventListener("course:math-typeset", focusWideFormulas);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
