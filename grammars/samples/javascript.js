import { readFile } from "node:fs/promises";

export async function loadConfig(path) {
  const text = await readFile(path, "utf8");
  let config = JSON.parse(text);
  if (!config.name) {
    config = { ...config, name: "default" };
  } else {
    console.log(`loaded ${config.name}`);
  }
  for (const [key, value] of Object.entries(config)) {
    process.env[key] = String(value);
  }
  const handlers = {
    get(target, prop) {
      return target[prop] ?? null;
    },
  };
  const view = () => {
    return <div className="x">{config.name}</div>;
  };
  try {
    validate(config);
  } catch (err) {
    throw new Error(`bad config: ${err.message}`);
  }
  return new Proxy(config, handlers);
}

class Store {
  constructor() {
    this.items = [];
  }
  add(item) {
    var count = this.items.push(item);
    return count;
  }
}
