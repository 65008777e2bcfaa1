// The book theme's Font Awesome replaces every <i class="fa ..."> with an <svg>. ipywidgets'
// Play button then cannot set its icon, throws, and that error stops every jslink on the page.
// "nest" puts the svg inside the <i> instead of replacing it, so the widget finds its element
// and the icon shows as the theme's svg (checked by the Play test in tests/book).
window.FontAwesomeConfig = Object.assign(window.FontAwesomeConfig || {}, { autoReplaceSvg: "nest" });
