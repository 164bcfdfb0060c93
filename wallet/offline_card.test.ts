import { describe, expect, it } from 'vitest';
import { bytesToHex } from '../protocol/bytes.js';
import { Applet } from '../offline/applet.js';
import { MemoryAppletStore } from '../offline/applet_store.js';
import { CardClient, localChannel } from '../offline/card_client.js';
import { ApduOfflineCard } from '../offline/offline_card.js';
import type { OfflineCard } from './offline_wallet.js';
import { encodeAuthorisation, signAuthorisation } from '../offline/authorisation.js';
import { encodeCertificate, signCertificate } from '../offline/certificate.js';
import { encodeRevocationList } from '../offline/revocation.js';
import { decodeVoucher } from '../offline/voucher.js';
import { BANK_KEYS, DEFAULT_CAPS, NET, NOW_MS, TRUST, makeCard, revocationList } from '../test/helpers/offline_fixture.js';

describe('the card as the wallet sees it (hex in, hex out)', () => {
  it('initialises a blank card from the bank trust, installs its certificate, applies load and sync, and hands over its log', async () => {
    const applet = Applet.open(new MemoryAppletStore());
    const card = new ApduOfflineCard(new CardClient(localChannel(applet)), async () => ({ network: NET, banks: TRUST }));
    const asWalletSees: OfflineCard = card; // the wallet's interface, checked by the compiler
    expect(asWalletSees).toBe(card);
    expect(await card.certificate()).toBeNull();
    const pub = await card.publicKey();
    expect(await card.publicKey()).toEqual(pub); // initialised once
    const cert = signCertificate({ network: NET, bank: 'bank-a', serial: 77n, devicePub: pub, ...DEFAULT_CAPS, validFromMs: 0n, validUntilMs: NOW_MS * 2n }, BANK_KEYS['bank-a']!);
    const certHex = bytesToHex(encodeCertificate(cert));
    await card.installCertificate(certHex);
    expect(await card.certificate()).toBe(certHex);
    const auth = (action: 'load' | 'sync', counter: bigint, amountFen: bigint) =>
      bytesToHex(encodeAuthorisation(signAuthorisation({ network: NET, device: { bank: 'bank-a', serial: 77n }, devicePub: pub, action, counter, amountFen }, BANK_KEYS['bank-a']!)));
    await card.applyAuthorisation(auth('load', await card.counter(), 5_000n));
    expect([await card.counter(), await card.balanceFen()]).toEqual([1n, 5_000n]);
    // A payment received, so the log carries a payer's voucher too.
    const payer = await makeCard('bank-b');
    await payer.client.load(signAuthorisation({ network: NET, device: { bank: 'bank-b', serial: payer.cert.serial }, devicePub: payer.cert.devicePub, action: 'load', counter: 0n, amountFen: 1_000n }, BANK_KEYS['bank-b']!));
    const own = card.client;
    const ch = await own.challenge(300n, NOW_MS);
    await own.accept(payer.cert, await payer.client.pay(ch));
    const { log, received } = await card.log();
    expect(log.map((h) => decodeVoucher(Buffer.from(h, 'hex')).type)).toEqual(['load', 'receive']);
    expect(received.length).toBe(1);
    expect(received[0]!.certificate).toBe(bytesToHex(encodeCertificate(payer.cert)));
    await card.applyAuthorisation(auth('sync', 2n, 0n));
    expect(await card.log()).toEqual({ log: [], received: [] });
    await card.installRevocationList(bytesToHex(encodeRevocationList(revocationList('bank-b', 1n, [payer.cert.serial]))));
    await expect(card.client.checkPayer(payer.cert, NOW_MS)).rejects.toThrow(/9106/);
  });
});
