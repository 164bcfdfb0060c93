// Offline devices for tests: two banks' offline keys, cards personalised with certificates
// and caps, and the bank authorisations (load, unload, sync) and revocation lists a bank
// would sign for them.
import { generateSecretKey, publicKeyOf } from '../../protocol/sig.js';
import { Applet } from '../../offline/applet.js';
import { AppletStore, MemoryAppletStore } from '../../offline/applet_store.js';
import { CardClient, localChannel } from '../../offline/card_client.js';
import { CertificateBody, DeviceCertificate, signCertificate } from '../../offline/certificate.js';
import { personaliseCard } from '../../offline/personalise.js';
import { AuthorisationAction, BankAuthorisation, signAuthorisation } from '../../offline/authorisation.js';
import { RevocationList, signRevocationList } from '../../offline/revocation.js';
import { stateDigest } from '../../offline/applet_state.js';

export const NET = 'offline-test';
export const NOW_MS = 1_760_000_000_000n;

export const BANK_KEYS: Record<string, Buffer> = { 'bank-a': generateSecretKey(), 'bank-b': generateSecretKey() };
export const TRUST = new Map(Object.entries(BANK_KEYS).map(([bank, sk]) => [bank, publicKeyOf(sk)]));
export const BANK_KEY_SET = { network: NET, keys: TRUST };

export interface Caps {
  balanceCapFen: bigint;
  paymentCapFen: bigint;
  paymentsBeforeSync: number;
}
export const DEFAULT_CAPS: Caps = { balanceCapFen: 100_000n, paymentCapFen: 20_000n, paymentsBeforeSync: 5 };

export interface TestCard {
  applet: Applet;
  client: CardClient;
  cert: DeviceCertificate;
  store: AppletStore;
}

let nextSerial = 1n;

export async function makeCard(bank = 'bank-a', caps: Partial<Caps> = {}, store: AppletStore = new MemoryAppletStore(), opts: { validUntilMs?: bigint; bankSk?: Buffer } = {}): Promise<TestCard> {
  const applet = Applet.open(store);
  const client = new CardClient(localChannel(applet));
  const serial = nextSerial++;
  const cert = await personaliseCard(client, NET, TRUST, (devicePub) => {
    const body: CertificateBody = {
      network: NET,
      bank,
      serial,
      devicePub,
      ...DEFAULT_CAPS,
      ...caps,
      validFromMs: NOW_MS - 86_400_000n,
      validUntilMs: opts.validUntilMs ?? NOW_MS + 365n * 86_400_000n,
    };
    return signCertificate(body, opts.bankSk ?? BANK_KEYS[bank]!);
  });
  return { applet, client, cert, store };
}

export function authorise(card: { cert: DeviceCertificate; applet: Applet }, action: AuthorisationAction, amountFen: bigint, counter?: bigint): BankAuthorisation {
  return signAuthorisation(
    { network: NET, device: { bank: card.cert.bank, serial: card.cert.serial }, devicePub: card.cert.devicePub, action, counter: counter ?? card.applet.committed.counter, amountFen },
    BANK_KEYS[card.cert.bank]!,
  );
}

export function revocationList(bank: string, sequence: bigint, serials: bigint[]): RevocationList {
  return signRevocationList({ network: NET, bank, sequence, issuedMs: NOW_MS, serials }, BANK_KEYS[bank]!);
}

export function digest(card: { applet: Applet }): string {
  return stateDigest(card.applet.committed);
}
