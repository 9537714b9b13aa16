import { useEffect, useRef } from 'react';
import type { ReactNode } from 'react';

/**
 * The h1 of a screen. It takes focus when the screen opens, so that keyboard and screen-reader
 * users land on the new content instead of the button they pressed.
 */
export function ScreenHeading({ children, id, focus = true }: { children: ReactNode; id?: string; focus?: boolean }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (focus) ref.current?.focus();
  }, [focus]);
  return (
    <h1 ref={ref} tabIndex={-1} id={id} className="screen-heading">
      {children}
    </h1>
  );
}
