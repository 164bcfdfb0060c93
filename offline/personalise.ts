// Personalising a blank card for its bank: the card learns its network and the bank keys it
// trusts and makes its key pair inside (only the public key comes out); the bank certifies
// that key with the caps it chooses; the card installs the certificate. The bank's side of
// the exchange is a callback, so the same steps run against a card in this process, behind
// PC/SC, or across the bank's API.
import { CardClient } from './card_client.js';
import { DeviceCertificate } from './certificate.js';

export async function personaliseCard(
  card: CardClient,
  network: string,
  trust: ReadonlyMap<string, Buffer>,
  certify: (devicePub: Buffer) => Promise<DeviceCertificate> | DeviceCertificate,
): Promise<DeviceCertificate> {
  await card.select();
  const devicePub = await card.initialise(network, trust);
  const cert = await certify(devicePub);
  await card.installCertificate(cert);
  return cert;
}
