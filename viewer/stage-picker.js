/**
 * Stage swapping from the page: for each swappable stage the server registers (`GET /v1/stages`), a select of its
 * alternatives plus inputs for the chosen one's settings, built from the JSON Schema the server sends. Nothing
 * here knows which stages or alternatives exist.
 */

const DEFAULT = '';

/**
 * "server default", with what that is when the server said.
 * @example defaultLabel({ use: 'latent-rgb', every: 1 }) // 'server default (latent-rgb, every 1)'
 */
export const defaultLabel = (/** @type {any} */ choice) => {
  if (!choice || typeof choice !== 'object') return 'server default';
  const { use, ...settings } = choice;
  const parts = [use, ...Object.entries(settings).map(([k, v]) => `${k} ${v}`)].filter(Boolean);
  return parts.length ? `server default (${parts.join(', ')})` : 'server default';
};

/**
 * One input for a JSON Schema property; returns the element and a reader of its value (undefined = unset).
 * @param {string} name
 * @param {any} prop the property's JSON Schema, as the server sent it
 * @returns {{ element: HTMLLabelElement, read: () => unknown }}
 */
const fieldFor = (name, prop) => {
  const label = document.createElement('label');
  label.textContent = `${name} `;
  // zod's nullable fields come out as anyOf [{type}, {type: 'null'}]: the non-null branch says what to ask for.
  const branch = prop.anyOf?.find((/** @type {any} */ a) => a.type !== 'null') ?? {};
  const type = prop.type ?? branch.type;
  /** @type {unknown[] | undefined} */
  const choices =
    prop.enum ??
    branch.enum ??
    prop.anyOf?.map((/** @type {any} */ a) => a.const).filter((/** @type {unknown} */ v) => v !== undefined);
  /** @type {HTMLInputElement | HTMLSelectElement} */
  let input;
  /** @type {() => unknown} */
  let read;
  if (choices?.length) {
    const select = document.createElement('select');
    for (const c of choices) select.append(new Option(String(c), String(c), false, c === prop.default));
    read = () => choices.find((c) => String(c) === select.value);
    input = select;
  } else if (type === 'boolean') {
    const box = Object.assign(document.createElement('input'), { type: 'checkbox', checked: Boolean(prop.default) });
    read = () => box.checked;
    input = box;
  } else if (type === 'number' || type === 'integer') {
    input = Object.assign(document.createElement('input'), { type: 'number', step: type === 'integer' ? '1' : 'any' });
    if (prop.default != null) input.value = String(prop.default);
    const { minimum, maximum } = { ...branch, ...prop };
    if (minimum != null) input.min = String(minimum);
    if (maximum != null) input.max = String(maximum);
    read = () => (input.value === '' ? undefined : Number(input.value));
  } else {
    input = Object.assign(document.createElement('input'), { value: prop.default ?? '' });
    read = () => (input.value === '' ? undefined : input.value);
  }
  input.name = name;
  label.append(input);
  return { element: label, read };
};

/** The settings of one alternative: every schema property except the `use` tag. */
const settingsOf = (/** @type {any} */ choice) => {
  const props = choice.schema?.properties ?? {};
  return Object.entries(props)
    .filter(([k]) => k !== 'use')
    .map(([k, p]) => ({ key: k, ...fieldFor(k, p ?? {}) }));
};

/**
 * Fills `fieldset` with pickers for `stages` (`{ stageName: [{ use, schema }] }`) and returns a reader of the
 * pipeline description the user chose: only stages set away from "server default" appear in it. `defaults` (the
 * server's own description, `GET /v1/settings`) names what "server default" is.
 * @param {HTMLElement} fieldset
 * @param {Record<string, any[]> | undefined} stages
 * @param {Record<string, unknown>} [defaults]
 * @returns {() => Record<string, unknown> | undefined}
 * @example const pick = stagePicker(el, { sampler: [{ use: 'ddim', schema }] }); pick() // { sampler: { use: 'ddim' } }
 */
export const stagePicker = (fieldset, stages, defaults = {}) => {
  for (const e of fieldset.querySelectorAll(':scope > :not(legend)')) e.remove();
  /** @type {(() => [string, Record<string, unknown>] | undefined)[]} */
  const readers = [];
  for (const [stage, choices] of Object.entries(stages ?? {})) {
    if (!Array.isArray(choices) || !choices.length) continue;
    const box = document.createElement('div');
    box.className = 'stage';
    box.dataset.stage = stage;
    const select = document.createElement('select');
    select.name = `stage:${stage}`;
    select.append(new Option(defaultLabel(defaults[stage]), DEFAULT));
    for (const c of choices) select.append(new Option(c.use, c.use));
    const label = document.createElement('label');
    label.append(`${stage} `, select);
    const settings = document.createElement('div');
    settings.className = 'settings';
    /** @type {ReturnType<typeof settingsOf>} */
    let fields = [];
    select.addEventListener('change', () => {
      const choice = choices.find((c) => c.use === select.value);
      fields = choice ? settingsOf(choice) : [];
      settings.replaceChildren(...fields.map((f) => f.element));
    });
    box.append(label, settings);
    fieldset.append(box);
    readers.push(() => {
      if (select.value === DEFAULT) return undefined;
      const values = Object.fromEntries(fields.map((f) => [f.key, f.read()]).filter(([, v]) => v !== undefined));
      return [stage, { use: select.value, ...values }];
    });
  }
  if (!readers.length)
    fieldset.append(
      Object.assign(document.createElement('p'), { className: 'muted', textContent: 'no swappable stages' }),
    );
  return () => {
    const chosen = readers.map((r) => r()).filter((c) => c !== undefined);
    return chosen.length ? Object.fromEntries(chosen) : undefined;
  };
};
