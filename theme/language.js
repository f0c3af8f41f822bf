// The link in the menu bar to this page in the other edition. The English book is built to
// target/book and the Korean one to target/book/ko, page for page.
(function () {
    "use strict";
    const korean = document.documentElement.lang === "ko";
    const root = new URL(path_to_root || "./", window.location.href);
    const page = window.location.pathname.slice(root.pathname.length) || "index.html";
    const other = new URL((korean ? "../" : "ko/") + page, root);
    const link = document.createElement("a");
    link.href = other.href;
    link.className = "language-link";
    link.lang = korean ? "en" : "ko";
    link.hreflang = link.lang;
    link.textContent = korean ? "English" : "한국어";
    link.title = korean ? "Read this page in English" : "이 페이지를 한국어로 읽기";
    // HTML blocks are not in the catalogue: the one label they hold is translated here.
    if (korean) {
        for (const summary of document.querySelectorAll("details > summary")) {
            if (summary.textContent.trim() === "Solution") {
                summary.textContent = "풀이";
            }
        }
    }
    const buttons = document.querySelector("#mdbook-menu-bar .right-buttons");
    if (buttons) {
        buttons.prepend(link);
    }
})();
