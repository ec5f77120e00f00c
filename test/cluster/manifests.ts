/**
 * What the cluster test runs beside the chart, as Kubernetes objects for `kubectl apply`: the
 * ingress front (Debian's nginx with the configuration ingress-nginx would generate) and a Redis
 * Sentinel set (a primary, two replicas, three Sentinels) for the chart's sentinel mode. Every pod
 * passes Pod Security "restricted", like the chart's own.
 */

type Manifest = Record<string, unknown>;

/** A container's security context under Pod Security "restricted". */
function restricted(uid: number) {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

const SMALL = { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } };

/** Debian's nginx user (www-data). */
const NGINX_UID = 33;
/** The uid the chart's bundled Redis runs as. */
const REDIS_UID = 999;

export const FRONT = { name: 'ingress-front', httpsPort: 8443, httpPort: 8080, certDir: '/etc/front/tls' } as const;

/** The front: the generated nginx.conf in a ConfigMap, the TLS Secret, one nginx pod and a Service with a fixed ClusterIP (the address its certificate names). */
export function frontManifests(config: string, tls: { crt: string; key: string }, image: string, clusterIp: string): Manifest[] {
  const labels = { app: FRONT.name };
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: FRONT.name }, data: { 'nginx.conf': config } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${FRONT.name}-tls` }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': tls.crt, 'tls.key': tls.key } },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: FRONT.name, labels },
      spec: {
        automountServiceAccountToken: false,
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'nginx',
            image,
            imagePullPolicy: 'Never',
            args: ['nginx', '-c', '/etc/front/nginx.conf', '-g', 'daemon off;'],
            ports: [{ name: 'https', containerPort: FRONT.httpsPort }, { name: 'http', containerPort: FRONT.httpPort }],
            securityContext: restricted(NGINX_UID),
            readinessProbe: { tcpSocket: { port: 'https' }, periodSeconds: 1 },
            resources: SMALL,
            volumeMounts: [
              { name: 'config', mountPath: '/etc/front/nginx.conf', subPath: 'nginx.conf' },
              { name: 'tls', mountPath: FRONT.certDir },
              { name: 'tmp', mountPath: '/tmp' },
            ],
          },
        ],
        volumes: [
          { name: 'config', configMap: { name: FRONT.name } },
          { name: 'tls', secret: { secretName: `${FRONT.name}-tls` } },
          { name: 'tmp', emptyDir: {} },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: FRONT.name },
      spec: {
        clusterIP: clusterIp,
        selector: labels,
        ports: [
          { name: 'https', port: 443, targetPort: 'https' },
          { name: 'http', port: 80, targetPort: 'http' },
        ],
      },
    },
  ];
}

/**
 * The Redis Sentinel set that charts/studioline/ci/sentinel-values.yaml names: master
 * "studioline", Sentinels at redis-sentinel-N.redis:26379. The data pods are redis-data-N
 * (redis-data-0 starts as the primary, the others replicate it); apply the Sentinels once the data
 * pods are ready (a Sentinel refuses a primary name it cannot resolve). A failover that cannot
 * elect a leader is retried after twice the failover timeout: 10 s here.
 */
export const SENTINEL = { master: 'studioline', quorum: 2, downAfterMs: 1000, failoverTimeoutMs: 5000 } as const;

export function redisDataManifests(image: string): Manifest[] {
  const labels = { app: 'redis-data' };
  // Replicas start from their primary's copy (made in /data, the pod's own volume: the image's
  // working directory is not writable); nothing is persisted in this test (the chart's README
  // says what a production set should persist).
  const common = ['redis-server', '--port', '6379', '--dir', '/data', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];
  // Bare pods, not a StatefulSet: a deleted primary stays gone, as when its node dies. (A
  // StatefulSet brings redis-data-0 back under the same name, empty, and the Sentinels, which
  // follow the name, took it back as the primary instead of failing over.)
  return [
    headless('redis-data', labels, 6379),
    ...[0, 1, 2].map((i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `redis-data-${i}`, labels },
      spec: {
        hostname: `redis-data-${i}`,
        subdomain: 'redis-data',
        ...podSpec(image, i === 0 ? common : [...common, '--replicaof', 'redis-data-0.redis-data', '6379'], 6379),
      },
    })),
  ];
}

export function sentinelManifests(image: string): Manifest[] {
  const labels = { app: 'redis-sentinel' };
  const config = [
    'port 26379',
    'sentinel resolve-hostnames yes',
    `sentinel monitor ${SENTINEL.master} redis-data-0.redis-data 6379 ${SENTINEL.quorum}`,
    `sentinel down-after-milliseconds ${SENTINEL.master} ${SENTINEL.downAfterMs}`,
    `sentinel failover-timeout ${SENTINEL.master} ${SENTINEL.failoverTimeoutMs}`,
    `sentinel parallel-syncs ${SENTINEL.master} 1`,
  ].join('\\n');
  // A Sentinel rewrites its configuration file: it is made writable, in the pod's own volume.
  const start = `printf '${config}\\n' > /data/sentinel.conf && exec redis-server /data/sentinel.conf --sentinel`;
  // The chart's sentinel-values.yaml names the Sentinels redis-sentinel-N.redis.
  return [headless('redis', labels, 26379), statefulSet('redis-sentinel', labels, image, ['sh', '-c', start], 26379, 'redis')];
}

function headless(name: string, labels: Record<string, string>, port: number): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: labels, ports: [{ name: 'redis', port }] },
  };
}

function statefulSet(name: string, labels: Record<string, string>, image: string, command: string[], port: number, serviceName = name): Manifest {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name },
    spec: {
      serviceName,
      replicas: 3,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: podSpec(image, command, port) },
    },
  };
}

/** A Redis (or Sentinel) pod's spec under Pod Security "restricted", with /data its own. */
function podSpec(image: string, command: string[], port: number) {
  return {
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, fsGroup: REDIS_UID, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'redis',
        image,
        imagePullPolicy: 'Never',
        command,
        ports: [{ name: 'redis', containerPort: port }],
        securityContext: restricted(REDIS_UID),
        readinessProbe: { tcpSocket: { port: 'redis' }, periodSeconds: 1 },
        resources: SMALL,
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
      },
    ],
    volumes: [{ name: 'data', emptyDir: {} }],
  };
}
