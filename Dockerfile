# One image for every role: `studioline serve --role gateway|relay|keys-admin` (or all in one).
# One image is simpler to build, scan and pin than three, and the roles share all their code; the
# role is a command-line argument, set per Deployment by the chart.
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
 && node_modules/.bin/tsc --build packages/cli \
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

# 3. The image.
FROM scratch
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
EXPOSE 7777 7778
# A larger initial old generation: the audio path's frame buffers are short-lived but, with a JS heap
# of ~10 MB, V8's default limits ran a full mark-compact every ~70 ms under load (see BENCHMARKS.md).
ENTRYPOINT ["node", "--initial-old-space-size=128", "--no-memory-reducer", "/app/packages/cli/bin/studioline.js"]
CMD ["serve"]
