"""The web chat's own CSS and JavaScript (no file or font is loaded from outside the machine)."""

# HighlightedText lays each piece out as a box, so the text after a highlight would start on a new
# line; inline pieces read as one flowing passage. Source cards are the answer's Markdown block
# quotes. At phone width the columns stack (Gradio wraps them): answer first, its cards under it.
CSS = """
#evidence .textfield, #document-view .textfield { display: block !important; word-break: normal !important;
  overflow-wrap: break-word; line-height: 1.6; }
#evidence .token-container, #evidence .token, #evidence .text,
#document-view .token-container, #document-view .token, #document-view .text { display: inline !important; }
#evidence .text, #document-view .text { white-space: pre-wrap; }
#evidence .line-break, #document-view .line-break { display: block; height: 0.35em; }
#evidence .token, #document-view .token { padding: 0 !important; margin: 0 !important; }
#evidence .highlighted, #document-view .highlighted { padding: 0 2px !important; border-radius: 3px; }
#document-view .textfield { max-height: 28rem; overflow-y: auto; }
#chat blockquote { border: 1px solid var(--border-color-primary); border-left: 4px solid var(--color-accent);
  border-radius: 6px; padding: 0.4em 0.7em; margin: 0.5em 0; background: var(--background-fill-secondary); }
#chat a[href^="#source-"] { text-decoration: none; font-weight: 600; cursor: pointer; }
.rag-hidden { display: none !important; }
/* Notices open at the top left, over the page's title: never over the evidence panel and its buttons. */
.toast-wrap { left: 16px !important; right: auto !important; }
/* Gradio's "processing | 0.3/0.1s" timer over the chat: the typing indicator already says it. */
#chat .progress-text { display: none !important; }
#rag-back { position: fixed; right: 12px; bottom: 16px; z-index: 60; padding: 10px 14px; border-radius: 20px;
  border: 1px solid var(--border-color-primary); background: var(--button-primary-background-fill);
  color: var(--button-primary-text-color); font-weight: 600; box-shadow: 0 2px 8px rgba(0, 0, 0, 0.25); }
#rag-back[hidden] { display: none; }
@media (max-width: 700px) {
  .toast-wrap { left: 4px !important; right: 4px !important; width: auto !important; }
  /* The chat's scroll-down arrow sits on the text at this width; a finger scrolls anyway. */
  #chat button[aria-label="Scroll down"] { display: none !important; }
  #intro p { display: none; }
  #intro h2 { font-size: 1.1rem; margin: 0; }
  #chat { height: 72vh !important; }
  #chat .bubble-wrap { padding: 6px !important; }
  /* The chat's Clear button on a row of its own, not over the messages (it hid a question's last words). */
  #chat .icon-button-wrapper.top-panel { position: static !important; display: flex; justify-content: flex-end;
    width: 100% !important; box-sizing: border-box; }
  #chat .message-row { padding-left: 0 !important; padding-right: 0 !important; margin: 2px 0 !important; }
  #chat .message-row, #chat .message, #chat .message-row > div { max-width: 100% !important; }
  .gradio-container, .main, .contain { padding-left: 4px !important; padding-right: 4px !important; }
  #passages { max-width: 100%; overflow-x: auto; }
}
"""

# A click on a [n] marker names its answer and source in a hidden box, which the server answers
# by showing that source. The chat keeps the start of a new answer in view, not its last card.
# Copy gives the message as people read it (with its sources), not its Markdown source.
# At phone width the evidence is far below the chat: after a jump to it, a "Back to the answer"
# button returns to the marker that was clicked (and hides once the chat is in view again).
PAGE_JS = """() => {
  const target = () => document.querySelector('#source-target textarea, #source-target input');
  const back = document.createElement('button');
  back.id = 'rag-back'; back.type = 'button'; back.hidden = true; back.textContent = '↑ Back to the answer';
  document.body.appendChild(back);
  let marker = null;
  back.addEventListener('click', () => {
    back.hidden = true;
    (marker && marker.isConnected ? marker : document.querySelector('#chat'))?.scrollIntoView({block: 'center'});
  });
  window.ragShowBack = () => { back.hidden = false; };
  window.addEventListener('scroll', () => {
    const chat = document.querySelector('#chat');
    if (!back.hidden && chat && chat.getBoundingClientRect().bottom > window.innerHeight * 0.5) back.hidden = true;
  }, {passive: true});
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href*="#source-"]');
    if (!link || !link.closest('#chat')) return;
    event.preventDefault(); event.stopPropagation();
    const box = target();
    if (!box) return;
    marker = link;
    box.value = link.getAttribute('href').split('#source-')[1] + '@' + Date.now();
    box.dispatchEvent(new Event('input', {bubbles: true}));
  }, true);
  let copied = null;
  document.addEventListener('click', (event) => {
    const button = event.target.closest && event.target.closest('#chat button');
    // A message's buttons follow it: the message is the nearest earlier sibling with content.
    copied = null;
    for (let node = button && button.closest('.message-buttons'); node; node = node.previousElementSibling) {
      const content = node.querySelector('.message-content');
      if (content) { copied = content; break; }
    }
  }, true);
  if (navigator.clipboard && navigator.clipboard.writeText) {
    const write = navigator.clipboard.writeText.bind(navigator.clipboard);
    navigator.clipboard.writeText = (text) => {
      const message = copied;
      copied = null;
      return write(message ? message.innerText.replace(/\\u00a0/g, ' ').trim() : text);
    };
  }
}"""

SCROLL_TO_ANSWER = """() => {
  const chat = document.querySelector('#chat');
  if (!chat) return;
  const toLast = () => {
    const questions = chat.querySelectorAll('[data-testid="user"]');
    const last = questions[questions.length - 1];
    const wrap = last && last.closest('.bubble-wrap, [role=log]');
    if (wrap) wrap.scrollTop = last.getBoundingClientRect().top - wrap.getBoundingClientRect().top + wrap.scrollTop - 8;
  };
  // The new messages may render after this runs: follow them for a second, unless the reader scrolls.
  const follow = new MutationObserver(toLast);
  follow.observe(chat, {childList: true, subtree: true, characterData: true});
  const stop = () => follow.disconnect();
  setTimeout(stop, 1000);
  chat.addEventListener('wheel', stop, {once: true});
  chat.addEventListener('touchstart', stop, {once: true});
  setTimeout(toLast, 150);
}"""

# The whole document opened at its span: the document's own box scrolls to it, and the page only as
# far as needed to show it. At phone width the page scrolls there, with the way back offered.
SCROLL_TO_SPAN = """() => { setTimeout(() => {
  const mark = document.querySelector('#document-view .highlighted');
  if (!mark) return;
  const box = mark.closest('.textfield');
  if (box) box.scrollTop += mark.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight / 2;
  mark.scrollIntoView({block: 'nearest'});
  if (window.matchMedia('(max-width: 700px)').matches) window.ragShowBack?.();
}, 100); }"""

# A marker clicked: on a wide screen, as SCROLL_TO_SPAN; on a phone, the page goes to the source's
# passage (just under the chat's column), not to its document further down.
SCROLL_TO_SOURCE = """() => { setTimeout(() => {
  if (!window.matchMedia('(max-width: 700px)').matches) {
    const mark = document.querySelector('#document-view .highlighted');
    const box = mark && mark.closest('.textfield');
    if (box) box.scrollTop += mark.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight / 2;
    mark?.scrollIntoView({block: 'nearest'});
    return;
  }
  document.querySelector('#evidence')?.scrollIntoView({block: 'start'});
  window.ragShowBack?.();
}, 100); }"""
