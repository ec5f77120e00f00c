// Types for cluster-key-slot (the slot function ioredis itself uses; the package ships none).
declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (0-16383) of a key or channel name, honouring its {hash tag}. */
  export default function calculateSlot(key: string | Buffer): number;
}
