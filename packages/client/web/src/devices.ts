/**
 * The microphone and the output device, chosen in the page and remembered in this browser. The
 * lists are filled once the microphone is open (browsers name devices only after permission);
 * the output goes through AudioContext.setSinkId where the browser has it (Chromium 110 and
 * later), otherwise the output list says the system's default is used.
 */
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const STORAGE_KEY = 'studioline.devices';

export interface DeviceChoice {
  input?: string;
  output?: string;
}

export function savedDevices(): DeviceChoice {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}');
    return { input: typeof saved.input === 'string' ? saved.input : undefined, output: typeof saved.output === 'string' ? saved.output : undefined };
  } catch {
    return {};
  }
}

function save(choice: DeviceChoice): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(choice));
  } catch {
    /* private mode: the choice lasts this page */
  }
}

type SinkContext = AudioContext & { setSinkId?: (id: string) => Promise<void> };

/**
 * Fills the two lists and applies a choice as it is made: `openInput` reopens the microphone on
 * the chosen device; the output is switched on `context`.
 */
export async function setupDevices(context: AudioContext, openInput: (deviceId: string | undefined) => Promise<void>): Promise<void> {
  const choice = savedDevices();
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, chosen: string | undefined) => {
    const options = devices.filter((d) => d.kind === kind);
    select.replaceChildren(
      ...options.map((d, i) => {
        const option = document.createElement('option');
        option.value = d.deviceId;
        option.textContent = d.label || `${kind === 'audioinput' ? 'Microphone' : 'Output'} ${i + 1}`;
        return option;
      }),
    );
    if (chosen && options.some((d) => d.deviceId === chosen)) select.value = chosen;
    select.disabled = options.length < 2;
  };
  const input = $<HTMLSelectElement>('mic-device');
  const output = $<HTMLSelectElement>('speaker-device');
  fill(input, 'audioinput', choice.input);
  input.addEventListener('change', async () => {
    choice.input = input.value;
    save(choice);
    await openInput(input.value);
  });
  const sink = context as SinkContext;
  if (typeof sink.setSinkId !== 'function') {
    output.replaceChildren(new Option('System default (this browser cannot choose)'));
    output.disabled = true;
    return;
  }
  fill(output, 'audiooutput', choice.output);
  if (choice.output && output.value === choice.output) await sink.setSinkId(choice.output).catch(() => undefined);
  output.addEventListener('change', async () => {
    choice.output = output.value;
    save(choice);
    await sink.setSinkId?.(output.value);
  });
}
