# One image for every role: `studioline serve --role gateway|relay|keys-admin` (or all in one).
# One image is simpler to build, scan and pin than three, and the roles share all their code; the
# role is a command-line argument, set per Deployment by the chart.
# The SIP bridge (services/sip-bridge) is in it too, with its own target for those who want an image
# whose entry point is the bridge: `docker build --target sip-bridge .` (same layers, other ENTRYPOINT).
# The chart runs the bridge from the default image by its command, so it needs no second image.
# Written for the public image; machines without a registry pass NODE_IMAGE=<local node image>.
#
# Built in stages so that the image holds what runs and nothing else: the node binary and the
# libraries it links, the compiled services, the web client and the production dependencies. No
# shell, no npm, no compiler, no TypeScript sources or type declarations (about 140 MB, against
# 477 MB for the single-stage image it replaces).
ARG NODE_IMAGE=node:20-bookworm-slim

# 1. Compile (every dependency, dev ones included), then keep production dependencies only.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json ./
COPY packages packages
COPY services services
RUN npm ci --no-audit --no-fund \
 && node_modules/.bin/tsc --build packages/cli services/sip-bridge \
 && node_modules/.bin/tsc -p packages/client/web \
 && node packages/client/web/build.mjs \
 && npm prune --omit=dev --no-audit --no-fund
# What Node never loads at run time: sources, declarations, source maps, docs, compiled tests.
RUN find node_modules packages services \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' -o -name '*.tsbuildinfo' -o -name '*.md' \) -type f -delete \
 && rm -rf node_modules/@types packages/*/src services/*/src packages/*/test services/*/test packages/*/dist/test services/*/dist/test packages/client/web/src \
 && find . -type d -empty -delete

# 2. A root filesystem with node and the shared libraries it links (ldd), and a writable /tmp.
FROM ${NODE_IMAGE} AS runtime
RUN mkdir -p /rootfs/usr/local/bin /rootfs/tmp /rootfs/etc/ssl/certs \
 && chmod 1777 /rootfs/tmp \
 && cp "$(command -v node)" /rootfs/usr/local/bin/node \
 && for lib in $(ldd "$(command -v node)" | grep -o '/[^ ]*'); do cp --parents -L "$lib" /rootfs; done \
 && if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/; fi \
 && echo 'studioline:x:10001:10001::/tmp:/nonexistent' > /rootfs/etc/passwd \
 && echo 'studioline:x:10001:' > /rootfs/etc/group

# 3. What both images hold.
FROM scratch AS base
COPY --from=runtime /rootfs /
COPY --from=build /app /app
ENV NODE_ENV=production \
    PATH=/usr/local/bin \
    HOME=/tmp \
    HOST=0.0.0.0 \
    ADMIN_HOST=0.0.0.0
WORKDIR /app
# Runs as an unprivileged user and writes nothing outside /tmp: the chart mounts the root read-only.
USER 10001:10001

# 4. The SIP bridge's image (`--target sip-bridge`): SIP on 5060 (UDP and TCP), RTP from 20000-20999
# (RTP_PORT_MIN..RTP_PORT_MAX), metrics on 9090. SIP_HOST=0.0.0.0 needs SIP_PUBLIC_ADDRESS.
FROM base AS sip-bridge
ENV SIP_HOST=0.0.0.0 \
    METRICS_PORT=9090
EXPOSE 5060/udp 5060/tcp 9090
ENTRYPOINT ["node", "/app/services/sip-bridge/bin/sip-bridge.js"]

# 5. The image (the default target, last).
FROM base
EXPOSE 7777 7778
# A larger initial old generation: the audio path's frame buffers are short-lived but, with a JS heap
# of ~10 MB, V8's default limits ran a full mark-compact every ~70 ms under load (see BENCHMARKS.md).
ENTRYPOINT ["node", "--initial-old-space-size=128", "--no-memory-reducer", "/app/packages/cli/bin/studioline.js"]
CMD ["serve"]
