# One image for every digitq process: the API and the workers run the same
# image, and the command (docker-compose.yml) picks which.
#
#   docker build -t digitq .                                   # CPU
#   docker build -t digitq:gpu --build-arg ONNXRUNTIME_NODE_INSTALL=cuda12 .
#
# Not built on the machine this repository is developed on (it has no
# container engine): test/deploy/dockerfile-simulation.int.test.ts runs these
# steps outside a container (copies what COPY copies, runs RUN with ENV) and
# starts each compose command from the result.

# ---- build: every dependency (esbuild is a dev dependency), then the bundles.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# onnxruntime-node's install script: "skip" keeps the CPU binaries its npm
# package ships (and needs no network beyond the registry); "cuda12" downloads
# the CUDA 12 execution provider for GPU workers (opt-in).
ARG ONNXRUNTIME_NODE_INSTALL=skip
# Before npm ci: it holds the onnxruntime install setting.
COPY .npmrc package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/cli/package.json apps/cli/
COPY apps/launcher/package.json apps/launcher/
COPY packages/client/package.json packages/client/
COPY packages/config/package.json packages/config/
COPY packages/contracts/package.json packages/contracts/
COPY packages/datasets/package.json packages/datasets/
COPY packages/evaluation/package.json packages/evaluation/
COPY packages/imaging/package.json packages/imaging/
COPY packages/jobs/package.json packages/jobs/
COPY packages/model/package.json packages/model/
COPY packages/registry/package.json packages/registry/
COPY packages/service/package.json packages/service/
COPY packages/test-utils/package.json packages/test-utils/
COPY packages/webhooks/package.json packages/webhooks/
COPY test/package.json test/
# NODE_ENV is not production here: npm ci must install the dev dependencies the
# build needs. Optional dependencies stay included: sharp's and esbuild's native
# binaries are optional packages. tfjs-node (optional) downloads libtensorflow
# at install; where it cannot, npm drops it and the worker uses tfjs wasm.
RUN npm_config_onnxruntime_node_install="$ONNXRUNTIME_NODE_INSTALL" npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json ./
COPY scripts/ scripts/
COPY apps/ apps/
COPY packages/ packages/
# The runtime stage takes node_modules from here, pruned to production dependencies (npm's cache stays behind
# in this stage, so it needs no cleaning).
RUN node scripts/build.mjs && npm prune --omit=dev --no-audit --no-fund && mkdir -p .data

# ---- runtime: production dependencies, the bundles and the models; no sources, no compiler.
FROM node:20-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production
# JSON logs (one object a line) for the container's log driver.
ENV LOG_FORMAT=json
COPY --from=build --chown=node:node /app/package.json /app/.npmrc ./
COPY --from=build --chown=node:node /app/node_modules/ node_modules/
COPY --from=build --chown=node:node /app/apps/api/package.json apps/api/
COPY --from=build --chown=node:node /app/apps/api/dist/ apps/api/dist/
COPY --from=build --chown=node:node /app/apps/worker/package.json apps/worker/
COPY --from=build --chown=node:node /app/apps/worker/dist/ apps/worker/dist/
COPY --from=build --chown=node:node /app/apps/cli/package.json apps/cli/
COPY --from=build --chown=node:node /app/apps/cli/dist/ apps/cli/dist/
COPY --chown=node:node models/ models/
# /app itself belongs to root: the processes write under .data (the generated webhook secret, training
# checkpoints, MNIST when a training needs it), an empty folder the node user owns.
COPY --from=build --chown=node:node /app/.data/ .data/
USER node
EXPOSE 3000
# The API's liveness (slim images have no curl). Workers have no HTTP port by
# default: docker-compose.yml disables this check for them (their liveness is
# the heartbeat they keep in Redis).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "apps/api/dist/main.js"]
