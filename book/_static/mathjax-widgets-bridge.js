// The widget manager (@jupyter-widgets/html-manager) typesets widget labels with MathJax 2's
// `MathJax.Hub.Queue`; the book loads MathJax 3, which has no `Hub`, so every widget on a page
// threw "Cannot read properties of undefined (reading 'Queue')". This bridge gives MathJax 3 a
// `Hub.Queue` that forwards to `typesetPromise`. It runs after the page's MathJax configuration
// script; MathJax 3 replaces the global object when it starts, so the bridge is installed both
// on the configuration object (for widgets drawn before MathJax is ready, or if it never loads)
// and again from MathJax's own startup `ready` hook.
(function () {
  function installHub(mathjax) {
    if (mathjax.Hub && mathjax.Hub.Queue) return;
    mathjax.Hub = {
      Queue: function (command) {
        var element = Array.isArray(command) ? command[2] : undefined;
        var current = window.MathJax;
        if (current && typeof current.typesetPromise === "function") {
          // After whatever MathJax is typesetting now (the page's formulas, a slice at a time:
          // mathjax-in-slices.js): two typesetting calls must not run at once.
          var typeset = function () {
            return current.typesetPromise(element ? [element] : undefined);
          };
          var startup = current.startup;
          var chained = startup && startup.promise ? startup.promise.then(typeset) : typeset();
          if (startup) startup.promise = chained.catch(function () {});
        }
      },
    };
  }
  var config = (window.MathJax = window.MathJax || {});
  installHub(config);
  config.startup = config.startup || {};
  var configuredReady = config.startup.ready;
  config.startup.ready = function () {
    if (configuredReady) configuredReady();
    else window.MathJax.startup.defaultReady();
    installHub(window.MathJax);
  };
})();
