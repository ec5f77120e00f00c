/** The process: environment -> config -> SipBridge -> start; destroyed on SIGTERM/SIGINT. */
import { createLogger, destroyOnSignal, envStr } from '@studioline/server-kit';
import { sipBridgeConfigFromEnv } from './config.js';
import { SipBridge } from './sip-bridge.js';

export async function main(env: NodeJS.ProcessEnv): Promise<SipBridge> {
  const config = sipBridgeConfigFromEnv(env);
  const logger = createLogger('sip-bridge', { level: envStr(env, 'LOG_LEVEL', 'info') });
  const bridge = new SipBridge(config, { logger });
  await bridge.start();
  destroyOnSignal(bridge, logger);
  return bridge;
}
