# One image for every digitq process; the compose file picks the command.
# Not built in CI (no Docker engine there); kept in step with scripts/setup.sh.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/cli/package.json apps/cli/
COPY apps/launcher/package.json apps/launcher/
COPY packages/ packages/
COPY test/package.json test/
# tfjs-node is optional: with it (x86-64 glibc, network access at build) the
# worker uses native TensorFlow; without it, the wasm backend.
RUN npm ci --no-audit --no-fund --include=optional && npm cache clean --force
COPY . .
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "apps/api/src/main.ts"]
