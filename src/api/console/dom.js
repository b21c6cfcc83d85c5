// Small DOM helpers for the console: elements built from data (never innerHTML with server text), formatting.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export const statusBadge = (status) => h('span', { class: `status status-${status}` }, status);

export const TERMINAL = new Set(['success', 'failed', 'timed_out', 'cancelled', 'error']);

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '—';
}

export function shellQuote(text) {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Sets the page's content and title, and moves focus to its heading for keyboard and screen-reader users. */
export function render(container, title, ...content) {
  document.title = `${title} · sandrun`;
  const heading = h('h1', { tabindex: '-1' }, title);
  container.replaceChildren(heading, ...content);
  heading.focus({ preventScroll: true });
}
