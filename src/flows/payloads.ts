import { TextDecoder } from 'node:util';

/** How tenant-in hands a payload to a flow: the choices of core `mqtt in`. */
export type PayloadType = 'auto' | 'auto-detect' | 'utf8' | 'buffer' | 'json' | 'base64';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function utf8OrNull(payload: Buffer): string | null {
  try {
    return strictUtf8.decode(payload);
  } catch {
    return null;
  }
}

/**
 * Decodes a payload for a flow. `auto`: a string when the bytes are valid
 * UTF-8, else a Buffer; `auto-detect`: also parses JSON when it parses.
 * `json` throws on invalid JSON so the node can report it with the message.
 */
export function decodePayload(payload: Buffer, type: PayloadType): unknown {
  switch (type) {
    case 'buffer':
      return payload;
    case 'utf8':
      return payload.toString('utf8');
    case 'base64':
      return payload.toString('base64');
    case 'json':
      return JSON.parse(payload.toString('utf8'));
    case 'auto-detect': {
      const text = utf8OrNull(payload);
      if (text === null) return payload;
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    }
    default: {
      const text = utf8OrNull(payload);
      return text === null ? payload : text;
    }
  }
}

/** Encodes msg.payload for publishing: Buffers as they are, objects as JSON, the rest as text. */
export function encodePayload(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value === null || value === undefined) return Buffer.alloc(0);
  if (typeof value === 'object') return Buffer.from(JSON.stringify(value));
  return Buffer.from(String(value));
}
