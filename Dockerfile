# One image for every role: `studioline serve --role gateway|relay|keys-admin` (or all in one).
# One image is simpler to build, scan and pin than three, and the roles share all their code; the
# role is a command-line argument, set per Deployment by the chart.
# Written for the public image; machines without a registry pass NODE_IMAGE=<local node image>.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json ./
COPY packages packages
COPY services services
RUN npm ci --no-audit --no-fund \
 && node_modules/.bin/tsc --build packages/cli \
 && node_modules/.bin/tsc -p packages/client/web \
 && node packages/client/web/build.mjs \
 && npm prune --omit=dev --no-audit --no-fund \
 && find . -name '*.tsbuildinfo' -delete

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOME=/tmp \
    HOST=0.0.0.0 \
    ADMIN_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app /app
# Runs as an unprivileged user and writes nothing outside /tmp: the chart mounts the root read-only.
USER 10001:10001
EXPOSE 7777 7778
# A larger initial old generation: the audio path's frame buffers are short-lived but, with a JS heap
# of ~10 MB, V8's default limits ran a full mark-compact every ~70 ms under load (see BENCHMARKS.md).
ENTRYPOINT ["node", "--initial-old-space-size=128", "/app/packages/cli/bin/studioline.js"]
CMD ["serve"]
