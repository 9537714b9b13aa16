// `npm start`: the desktop app. The Electron shell is not built yet in this checkout, so say so
// plainly and point at what works without it.
console.error(
  [
    'CipherCare desktop: the Electron shell is not part of this build yet.',
    'Run the whole encrypted flow headless instead:  npm run demo',
  ].join('\n'),
);
process.exit(1);
