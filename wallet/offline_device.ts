// The wallet's own offline device: the emulated secure-element applet (offline/applet.ts)
// with its committed state in a directory next to the keystore (<wallet file>.offline/),
// spoken to in APDUs over an in-process channel, and the card view the bank flows use
// (offline/offline_card.ts). The applet keeps the payers' vouchers it accepted until a sync.
import { Applet } from '../offline/applet.js';
import { FileAppletStore } from '../offline/applet_store.js';
import { CardClient, localChannel } from '../offline/card_client.js';
import { ApduOfflineCard } from '../offline/offline_card.js';

/** The device directory that belongs to a keystore file. */
export function deviceDirOf(walletFile: string): string {
  return `${walletFile}.offline`;
}

/** The wallet's own device: the applet on its state file, and the card view the bank flows use. */
export interface LocalDevice {
  dir: string;
  applet: Applet;
  client: CardClient;
  card: ApduOfflineCard;
}

export function localDevice(walletFile: string, trust?: ConstructorParameters<typeof ApduOfflineCard>[1]): LocalDevice {
  const dir = deviceDirOf(walletFile);
  const applet = Applet.open(new FileAppletStore(dir));
  const client = new CardClient(localChannel(applet));
  return { dir, applet, client, card: new ApduOfflineCard(client, trust) };
}
