/**
 * The tiny model's tokenizer corpus: the textual-inversion prompt templates (diffusers' object and style lists)
 * and a few hundred plain English words for describing images — objects, animals, people, places, colours, sizes,
 * positions, materials, textures, lighting, art styles. Our own list, so the tiny tokenizer owes nothing to CLIP's.
 */
import { objectTemplates, styleTemplates } from '../../common/train/templates.ts';

/** The prompt templates textual inversion trains with (object and style lists, each once), `{}` for the new word. */
export const promptTemplates: readonly string[] = [...new Set([...objectTemplates, ...styleTemplates])];

const groups: Record<string, string> = {
  function:
    'a an the of in on at with and or by for from to into over under near next behind above below beside between inside outside my your its one two three four five some many few',
  objects:
    'toy sculpture statue vase cup mug bowl plate bottle glass jar teapot clock lamp chair table sofa bed desk shelf book books pen pencil phone camera computer laptop keyboard guitar piano violin drum ball bicycle car truck bus train boat ship plane kite umbrella hat shoe shoes bag backpack box basket candle mirror window door key robot doll teddy bear figurine mask helmet crown ring necklace watch',
  food: 'apple banana orange lemon cherry strawberry grape pear peach bread cake cookie pizza sandwich cheese egg coffee tea soup salad flower flowers rose tulip sunflower plant tree leaf leaves grass',
  animals:
    'cat dog kitten puppy bird owl parrot duck chicken horse cow sheep pig rabbit mouse fox wolf lion tiger bear panda monkey elephant giraffe zebra fish shark whale dolphin turtle frog snake butterfly bee spider dragon',
  people:
    'man woman person people boy girl child baby face portrait hand hands eyes smile friend family king queen knight wizard',
  places:
    'house building castle tower bridge city street road room kitchen garden park forest jungle mountain mountains hill valley river lake sea ocean beach island desert field farm village sky cloud clouds sun moon star stars snow rain fog sunset sunrise night day space planet',
  colours:
    'red green blue yellow orange purple pink brown black white gray grey gold golden silver colorful colourful pastel dark light bright pale vivid neon',
  sizes: 'small tiny little big large huge giant tall short long wide narrow thin thick round square flat',
  positions:
    'left right top bottom front back center middle corner side foreground background up down close far away close-up distant',
  materials:
    'wooden wood metal metallic glass plastic paper stone marble clay ceramic porcelain rubber leather fabric wool cotton silk velvet steel iron copper bronze crystal ice',
  textures:
    'smooth rough soft hard shiny glossy matte fuzzy furry fluffy hairy wet dry dusty rusty cracked wrinkled striped spotted checkered dotted patterned plain clean dirty old new broken',
  lighting:
    'lighting light shadow shadows sunlight moonlight studio natural dramatic cinematic warm cold soft glowing lit backlit',
  styles:
    'photo photograph picture image painting drawing sketch illustration render rendering rendition style art artwork oil watercolor watercolour acrylic pencil charcoal ink cartoon anime comic pixel digital abstract realistic photorealistic surreal impressionist minimalist vintage retro modern futuristic fantasy detailed highly sharp blurry focus macro wide angle lens shot view poster',
  adjectives: 'good nice cool weird beautiful pretty cute ugly happy sad funny scary strange simple elegant cozy',
  verbs:
    'sitting standing running walking flying swimming sleeping playing eating holding looking wearing lying floating',
};

/** Every word of the corpus, in a fixed order (the learner is deterministic given its input). */
export const imageWords: readonly string[] = [...new Set(Object.values(groups).flatMap((g) => g.split(' ')))];

/** Corpus lines for `trainBpe`: the templates with `{}` dropped, then the words. */
export const tinyCorpus = (): string[] => [...promptTemplates.map((t) => t.replace('{}', '').trim()), ...imageWords];
