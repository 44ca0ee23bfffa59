/** Entry point of the bundled action (action/dist/index.mjs): the time is read here, once. */
import { main } from './main.js'

await main(process.env, new Date())
