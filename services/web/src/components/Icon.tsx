/** A 20x20 solid icon of one even-odd path, hidden from screen readers (what holds it carries the name). */
export function Icon({ d, className }: { d: string; className: string }) {
  return (
    <svg viewBox="0 0 20 20" fill="currentColor" className={className} aria-hidden="true">
      <path fillRule="evenodd" clipRule="evenodd" d={d} />
    </svg>
  );
}
