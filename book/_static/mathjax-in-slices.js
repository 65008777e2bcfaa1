// MathJax typesets every formula of a page in one go once it has started: on a chapter (120-300
// formulas) that is one task of 1-2 s during which the page does not answer a click or a key
// (Lighthouse counts it as blocking time). Here MathJax's own `startup.pageReady` hook typesets
// the formulas a few at a time, top of the page first, and gives the browser back its turn
// between slices; a last pass over the whole page catches any formula outside the `.math`
// elements Sphinx writes. The result is the same typeset page (with its assistive MathML);
// `MathJax.startup.promise` still settles when all of it is done. Loaded after the page's
// MathJax configuration and before MathJax itself (see _config.yml).
(function () {
  "use strict";
  var SLICE = 6; // formulas per task: about 20-50 ms each on a laptop

  function typesetInSlices(mathjax) {
    var items = Array.prototype.slice.call(document.querySelectorAll(".math"));
    var start = 0;
    return new Promise(function (resolve) {
      function next() {
        var slice = items.slice(start, start + SLICE);
        start += SLICE;
        var done = slice.length ? mathjax.typesetPromise(slice) : mathjax.typesetPromise();
        done.catch(function (error) {
          console.error("MathJax:", error);
        }).then(function () {
          if (slice.length) return window.setTimeout(next, 0);
          resolve();
          // For course-a11y.js: the formulas have their final widths now.
          document.dispatchEvent(new Event("course:math-typeset"));
        });
      }
      next();
    });
  }

  var config = (window.MathJax = window.MathJax || {});
  config.startup = config.startup || {};
  config.startup.pageReady = function () {
    return typesetInSlices(window.MathJax);
  };
})();
