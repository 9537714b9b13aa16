/** The plain explanation of what stays on this machine, what leaves it, and why. */
export function StaysHere() {
  return (
    <section className="card stays-here" aria-labelledby="stays-here-title">
      <h2 id="stays-here-title">What stays on this machine, and why</h2>
      <ul>
        <li>
          <strong>Your secret key stays here.</strong> It is created on this computer and kept in an encrypted vault. It is the only thing that can read your
          inputs and results, so it is never sent anywhere.
        </li>
        <li>
          <strong>Your inputs and results stay here.</strong> They are encrypted before they leave, and the history of your predictions is stored encrypted
          in the vault.
        </li>
        <li>
          <strong>What leaves:</strong> encrypted inputs, and public evaluation keys that let the evaluation service compute on encrypted numbers without
          being able to decrypt them. The service sends back an encrypted answer that only this computer can open.
        </li>
        <li>
          <strong>Your passphrase opens the vault.</strong> It is not stored and cannot be recovered: if you forget it, the vault cannot be opened. Keep a
          backup (Keys and security) in a safe place.
        </li>
      </ul>
    </section>
  );
}
