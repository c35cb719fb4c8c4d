/// The catalog's one stylesheet and its small script, served from memory.
enum CatalogAssets {
    /// Light and dark by `prefers-color-scheme`; contrast of text and links above 4.5:1 in both;
    /// one column on a phone.
    static let stylesheet = """
    :root { color-scheme: light dark; --bg: #ffffff; --fg: #1b1f24; --muted: #4d5560; --line: #d0d7de;
      --panel: #f6f8fa; --link: #0550ae; --accent: #0a3069; --focus: #bf3989; }
    @media (prefers-color-scheme: dark) {
      :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --line: #30363d; --panel: #161b22;
        --link: #79c0ff; --accent: #a5d6ff; --focus: #ff7bd0; }
    }
    * { box-sizing: border-box; }
    html { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
    body { margin: 0; background: var(--bg); color: var(--fg); }
    a { color: var(--link); }
    a:focus-visible, button:focus-visible, input:focus-visible, main:focus-visible, pre:focus-visible {
      outline: 3px solid var(--focus); outline-offset: 2px; }
    .skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: .5rem 1rem; }
    .skip:focus { left: 1rem; z-index: 10; }
    header.top { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding: .75rem 1rem;
      border-bottom: 1px solid var(--line); background: var(--panel); }
    .brand { margin: 0; font-weight: 700; font-size: 1.15rem; }
    .brand a { color: var(--fg); text-decoration: none; }
    nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 1rem; margin: 0; padding: 0; }
    form.search { display: flex; gap: .5rem; align-items: center; margin-left: auto; flex-wrap: wrap; }
    form.search label { font-size: .9rem; color: var(--muted); }
    input[type=search] { font: inherit; padding: .35rem .5rem; border: 1px solid var(--muted); border-radius: 6px;
      background: var(--bg); color: var(--fg); min-width: 12rem; }
    button { font: inherit; padding: .35rem .8rem; border: 1px solid var(--muted); border-radius: 6px;
      background: var(--panel); color: var(--fg); cursor: pointer; }
    main { max-width: 64rem; margin: 0 auto; padding: 1rem; }
    footer { max-width: 64rem; margin: 2rem auto 1rem; padding: 0 1rem; color: var(--muted); font-size: .9rem; }
    h1 { font-size: 1.6rem; margin: .5rem 0 1rem; overflow-wrap: anywhere; }
    h2 { font-size: 1.25rem; margin-top: 2rem; }
    h3 { font-size: 1.15rem; } h4 { font-size: 1.05rem; }
    .counts { display: flex; flex-wrap: wrap; gap: 1rem; list-style: none; padding: 0; }
    .counts li { border: 1px solid var(--line); border-radius: 8px; padding: .5rem 1rem; background: var(--panel); }
    .counts strong { font-size: 1.4rem; display: block; }
    ul.items { list-style: none; padding: 0; }
    ul.items li { border-bottom: 1px solid var(--line); padding: .5rem 0; }
    ul.items .detail, .muted { color: var(--muted); }
    .scroll { overflow-x: auto; }
    table { border-collapse: collapse; margin: .5rem 0 1rem; }
    caption { text-align: left; font-weight: 600; padding: .25rem 0; }
    th, td { text-align: left; padding: .3rem .8rem .3rem 0; border-bottom: 1px solid var(--line); vertical-align: top; }
    code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9rem; }
    pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .75rem; overflow-x: auto; }
    figure.snippet { margin: 1rem 0; }
    figure.snippet figcaption { font-weight: 600; margin-bottom: .25rem; display: flex; gap: 1rem; align-items: center; }
    .layout { display: grid; grid-template-columns: minmax(0, 1fr) minmax(14rem, 20rem); gap: 2rem; }
    @media (max-width: 48rem) { .layout { grid-template-columns: minmax(0, 1fr); } form.search { margin-left: 0; } }
    .readme { border-top: 1px solid var(--line); margin-top: 1rem; }
    .readme img { max-width: 100%; }
    """

    /// Adds a copy button to each `pre[data-copy]`; without it the text is there to select.
    static let script = """
    "use strict";
    document.querySelectorAll("pre[data-copy]").forEach(function (pre) {
      if (!navigator.clipboard) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy " + (pre.getAttribute("aria-labelledby") ? document.getElementById(pre.getAttribute("aria-labelledby")).textContent : "snippet"));
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(pre.textContent).then(function () { button.textContent = "Copied"; }, function () { button.textContent = "Select and copy"; });
      });
      var caption = pre.parentNode.querySelector("figcaption");
      (caption || pre.parentNode).appendChild(button);
    });
    """
}
