// The offline wallet's public surface, for the bank (provisioning, reconciliation) and the
// wallet command line (load, unload, pay, receive on a reader, sync).
export * from './codec.js';
export * from './certificate.js';
export * from './challenge.js';
export * from './voucher.js';
export * from './authorisation.js';
export * from './revocation.js';
export { SW, INS, OFFLINE_AID, CardRefusal, swName, swHex } from './apdu.js';
export { Applet, type AppletStatus } from './applet.js';
export { type AppletState, stateDigest, LOG_VOUCHERS_MAX, PENDING_CHALLENGES_MAX, REVOCATION_BANKS_MAX } from './applet_state.js';
export { type AppletStore, FileAppletStore, MemoryAppletStore, STATE_FILE_NAME } from './applet_store.js';
export { type CardChannel, CardClient, localChannel } from './card_client.js';
export { personaliseCard } from './personalise.js';
export { serveCardOverVpcd, type VpcdCardHandle, type VpcdCardOptions, type VirtualCard, VPCD_HOST, VPCD_PORT } from './vpcd_card.js';
export { PcscReader, collectPayment, receiveOnReader, type PaymentReceipt, type ReceiveOnReaderOptions, VPCD_READER_NAME } from './terminal.js';
export { acquirePcscStack, ensurePcscd, type PcscStack } from './pcsc_stack.js';
export { ApduOfflineCard, type CardTrust } from './offline_card.js';
