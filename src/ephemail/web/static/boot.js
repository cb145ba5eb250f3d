// Runs before the first paint (a classic script in <head>): applies the remembered or the
// system colour theme so a dark-mode user never sees a white flash.
(function () {
  var theme = null;
  try {
    theme = window.localStorage.getItem("ephemail.theme");
  } catch (e) {
    theme = null;
  }
  if (theme !== "light" && theme !== "dark") {
    var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    theme = dark ? "dark" : "light";
  }
  document.documentElement.setAttribute("data-theme", theme);
})();
