// The book theme's Font Awesome replaces every <i class="fa ..."> with an <svg>. ipywidgets'
// Play button then cannot set its icon, throws, and that error stops every jslink on the page.
// "nest" puts the svg inside the <i> instead of replacing it; course.css hides the nested svg
// in widgets so that the widget's own icon font shows.
window.FontAwesomeConfig = Object.assign(window.FontAwesomeConfig || {}, { autoReplaceSvg: "nest" });
