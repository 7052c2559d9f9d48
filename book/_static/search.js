// Search results that read well. Sphinx's searchtools.js (loaded on the search page only) is
// adjusted in three ways:
// - a page whose own title holds every word of the query ranks above pages that only have a
//   section about it, and the closer its title is to the query the higher (so "attention" finds
//   chapter 2 first, before "What attention learns");
// - a chapter is listed once, not once for the page and again for its first heading;
// - the snippet is cut from the visible text of the article, not from the download buttons, the
//   contents list or folded code, and a formula shows as its TeX without the \( \) around it.
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Search === "undefined" || typeof Scorer === "undefined") return;

  const query = (new URLSearchParams(window.location.search).get("q") || "").toLowerCase();
  const words = query.split(/\s+/).filter((word) => word.length > 0);
  // A chapter's title comes as '<span class="section-number">2. </span>Attention'.
  const withoutNumber = (title) => title.replace(/<[^>]*>/g, "").replace(/^[\d.]+\s+/, "").trim();

  Scorer.score = (result) => {
    const [, title, , , score] = result;
    const page = withoutNumber(title.split(" > ")[0]).toLowerCase();
    const aboutIt = words.length > 0 && words.every((word) => page.includes(word));
    // Of two such pages, the one whose title is nearer to the query itself wins: "attention"
    // finds "Attention" before "What attention learns: induction heads".
    const titleWords = page.split(/[^a-z0-9]+/).filter((word) => word.length > 0);
    const closeness = words.length / Math.max(titleWords.length, words.length);
    return score + (aboutIt ? 20 + Math.round(20 * closeness) : 0);
  };

  const performSearch = Search._performSearch;
  Search._performSearch = (...args) => {
    const seen = new Set();
    // The best result comes last; walk from it so the best copy of a page is the one kept.
    return performSearch(...args).reverse().filter((result) => {
      const [docName, title, anchor] = result;
      const [page, section] = title.split(" > ");
      if (section !== undefined && withoutNumber(page) === section.trim()) {
        result[1] = page;  // "2. Attention > Attention" is the page itself
        result[2] = "";
      }
      const key = `${docName}|${result[1]}|${result[2]}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    }).reverse();
  };

  Search.htmlToText = (htmlString, anchor) => {
    const html = new DOMParser().parseFromString(htmlString, "text/html");
    const main = html.querySelector("#main-content article") || html.querySelector('[role="main"]');
    if (!main) return "";
    main.querySelectorAll(".headerlink, script, style, .bd-header-article, .bd-sidebar-secondary, "
                          + ".prev-next-area, details")  // folded listings and solutions too
      .forEach((element) => element.remove());
    main.querySelectorAll(".math").forEach((formula) => {
      formula.textContent = formula.textContent
        .replace(/\\[()[\]]/g, "")
        .replace(/\\(begin|end)\{split\}/g, "")
        .trim();
    });
    const section = anchor ? main.querySelector(anchor) : null;
    return (section || main).textContent.replace(/\s+/g, " ");
  };
});
